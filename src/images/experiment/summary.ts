import type { ImagesRunConfig, UnitLine } from './resultsFile.ts';

/** One probed layer at one step: means over images and trajectories. */
export interface LayerSummary {
  name: string;
  /** 0-based depth of the layer among the probed layers (graph order). */
  depth: number;
  cosine: number;
  /** Standard error over images (trajectories of one image are averaged first: they share the original); null with one image. */
  cosineSE: number | null;
  l2Normalised: number;
}

/** The experiment at one step k (t/T = k/K). */
export interface ImagesSummaryRow {
  step: number;
  tOverT: number;
  images: number;
  /** Fraction of round trips whose top-1 class is the original's top-1. */
  classKept: number;
  /** Standard error over images; null with one image (not estimable, as every SE here). */
  classKeptSE: number | null;
  /** Fraction whose top-1 is the image's label (only when every image has a label index). */
  classKeptLabel?: number;
  classKeptLabelSE?: number | null;
  layers: LayerSummary[];
  /** Mean |x_gen − x_orig| per pixel and channel, images in [−1, 1]. */
  pixelChange: number;
  pixelChangeSE: number | null;
  /** Σ C_ij / Σ C_ii of patch change magnitudes, ratio of the means over images (null for one trajectory). */
  chi: number | null;
  /** C(r), r = 0 … R patches, averaged over images (null for one trajectory). */
  correlation: number[] | null;
}

/** `OUT/summary.json`. */
export interface ImagesSummary {
  format: 'hierdiff.images-summary/1';
  run: { tool: string; version: string; command: string };
  config: ImagesRunConfig;
  rows: ImagesSummaryRow[];
}

/**
 * Mean and standard error over items of per-item means; the SE is null for one item (not estimable,
 * the rule of every spread in results files: src/experiment/summary.ts).
 */
function meanSE(values: readonly number[]): [number, number | null] {
  const n = values.length;
  if (n === 0) return [NaN, NaN];
  const m = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return [m, null];
  const v = values.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1);
  return [m, Math.sqrt(v / n)];
}

const average = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** What the summary reads of a run's config (the explorer page has only this). */
export type SummarisedConfig = Pick<ImagesRunConfig, 'steps' | 'spacedSteps'> & { classifier: Pick<ImagesRunConfig['classifier'], 'layers'> };

/** Rows per step from unit lines (any subset, e.g. a partial run), steps ascending. */
export function summariseImages(config: SummarisedConfig, units: readonly UnitLine[]): ImagesSummaryRow[] {
  const rows: ImagesSummaryRow[] = [];
  for (const step of config.steps) {
    const at = units.filter((u) => u.step === step);
    if (at.length === 0) continue;
    const perImage = (f: (t: UnitLine['trajectories'][number]) => number) => at.map((u) => average(u.trajectories.map(f)));
    const [classKept, classKeptSE] = meanSE(perImage((t) => (t.classKept ? 1 : 0)));
    const [pixelChange, pixelChangeSE] = meanSE(perImage((t) => t.pixelChange));
    const layers = config.classifier.layers.map((name, j) => {
      const [cosine, cosineSE] = meanSE(perImage((t) => t.layers[j].cosine));
      return { name, depth: j, cosine, cosineSE, l2Normalised: average(perImage((t) => t.layers[j].l2Normalised)) };
    });
    const row: ImagesSummaryRow = { step, tOverT: step / config.spacedSteps, images: at.length, classKept, classKeptSE, layers, pixelChange, pixelChangeSE, chi: null, correlation: null };
    if (at.every((u) => u.trajectories.every((t) => t.labelKept !== null))) {
      const [m, se] = meanSE(perImage((t) => (t.labelKept ? 1 : 0)));
      row.classKeptLabel = m;
      row.classKeptLabelSE = se;
    }
    if (at.every((u) => u.chiNumerator !== null && u.chiDenominator !== null && u.correlation !== null)) {
      const den = average(at.map((u) => u.chiDenominator!));
      row.chi = den > 0 ? average(at.map((u) => u.chiNumerator!)) / den : null;
      const R = at[0].correlation!.length;
      row.correlation = Array.from({ length: R }, (_, r) => average(at.map((u) => u.correlation![r])));
    }
    rows.push(row);
  }
  return rows;
}
