/**
 * The digits curves' data, pure: each (digit, step) round trip as an image run's unit line, pooled
 * by the CLI's own summariseImages into the rows the report's image figures draw
 * (src/report/figures/images.ts): class kept (top-1 = original's, top-1 = label) and the probed
 * layers' cosines against t/T, ±1 s.e. over digits.
 */
import type { ClassifierStats } from '../../src/images/experiment/layerStats.ts';
import type { UnitLine } from '../../src/images/experiment/resultsFile.ts';
import type { ImageVerdict } from '../../src/images/experiment/roundTrip.ts';
import { summariseImages, type ImagesSummaryRow } from '../../src/images/experiment/summary.ts';
import { DIGITS_STEPS } from './digitsModel.ts';

/** A (digit, step) round trip as summariseImages reads it. */
export type CurveUnit = UnitLine;

/**
 * The unit line of digit `image` (label `label`) at `step`, from judge's verdicts (the original's
 * first). The page keeps cosines only: the L2 distances are NaN (not drawn), and χ is null (one
 * trajectory per digit).
 */
export function curveUnit(image: number, label: number, step: number, verdicts: readonly ImageVerdict[]): CurveUnit {
  const [original, ...generated] = verdicts;
  return {
    type: 'unit',
    key: `${image}:${step}`,
    unit: image,
    image,
    name: `${label}/${image % 10}`,
    label: String(label),
    labelIndex: label,
    step,
    tOverT: step / DIGITS_STEPS,
    originalTop1: original.top1,
    trajectories: generated.map((v) => ({
      top1: v.top1,
      classKept: v.top1 === original.top1,
      labelKept: v.top1 === label,
      pixelChange: v.pixelChange,
      layers: v.cosines.map((cosine) => ({ cosine, l2: NaN, l2Normalised: NaN })),
    })),
    chiNumerator: null,
    chiDenominator: null,
    correlation: null,
  };
}

/** The rows of the units so far, with how many steps have data and the fewest digits at any of them. */
export function curveRows(steps: readonly number[], stats: ClassifierStats, units: readonly CurveUnit[]): { rows: ImagesSummaryRow[]; points: number; perPoint: number } {
  const rows = summariseImages({ steps: [...steps], spacedSteps: DIGITS_STEPS, classifier: { layers: stats.layers.map((l) => l.name) } }, units);
  return { rows, points: rows.length, perPoint: rows.length ? Math.min(...rows.map((r) => r.images)) : 0 };
}
