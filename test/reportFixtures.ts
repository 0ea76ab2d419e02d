/**
 * Small fixed synthetic inputs for the figure snapshot tests: numbers given to 2 decimals, so the
 * pictures depend only on the figure code (not on simulations or theory code).
 */
import type { ProcessName } from '../src/noise/process.ts';
import type { ForwardBackwardRow } from '../src/experiment/summary.ts';
import type { CurvePoint } from '../src/report/figures/common.ts';
import type { MeanFieldMapData } from '../src/report/figures/meanFieldMap.ts';

/** A logistic step in the noise, sharper with depth, crossing at `centre`: P_0-like numbers. */
function step(x: number, centre: number, depth: number): number {
  const floor = 0.03;
  return Math.round((floor + (1 - floor) / (1 + Math.exp(((x - centre) * depth * 6) / 0.4))) * 100) / 100;
}

export const EPS_LEVELS = [0.5, 0.6, 0.65, 0.7, 0.73, 0.76, 0.8, 0.9];
export const GAUSS_LEVELS = [0.05, 0.09, 0.11, 0.13, 0.2];

function row(process: ProcessName, depth: number, noise: number, centre: number): ForwardBackwardRow {
  const y = step(noise, centre, depth);
  const levelKept = Array.from({ length: depth + 1 }, (_, l) => step(noise, centre + (0.12 * l) / depth, depth - l + 1));
  const chi = Math.round((1 + depth * Math.exp(-(((noise - centre) / 0.05) ** 2))) * 100) / 100;
  return {
    depth,
    process,
    noise,
    control: noise,
    grammarSeeds: [0, 1],
    samples: 200,
    trajectories: 4,
    classKept: y,
    classKeptSE: 0.02,
    classKeptSampled: y,
    classKeptSampledSE: 0.03,
    classKeptGrammarSD: 0.01,
    levelKept,
    levelKeptSE: levelKept.map(() => 0.01),
    levelKeptSampled: levelKept,
    levelKeptSampledSE: levelKept.map(() => 0.02),
    tokenKept: levelKept[depth],
    tokenKeptSE: 0.01,
    chi,
    chiSE: 0.2,
  };
}

export function syntheticRows(): ForwardBackwardRow[] {
  const rows: ForwardBackwardRow[] = [];
  for (const depth of [2, 4, 6]) {
    for (const noise of EPS_LEVELS) rows.push(row('eps', depth, noise, 0.73));
    for (const noise of GAUSS_LEVELS) rows.push(row('gaussian', depth, noise, 0.11));
  }
  return rows;
}

/** Dashed "theory" curves: the same step, a little shifted. */
export function syntheticTheory(levels: number[], centre: number): CurvePoint[] {
  return [2, 4, 6].flatMap((depth) => levels.map((noise) => ({ depth, noise, value: step(noise, centre + 0.01, depth) })));
}

/** The map of v = 8, m = 3, s = 2 (F, fixed points 1/8, 0.4, 1) at 2 decimals, with two short cobwebs. */
export function syntheticMap(): MeanFieldMapData {
  const F = (p: number) => {
    const fp = (3 * 8 - 1) / 63;
    const g = 2 / 63;
    return (p * p + g * (1 - p * p)) / (p * p + fp * (1 - p * p));
  };
  const r = (x: number) => Math.round(x * 100) / 100;
  const cobweb = (p0: number, label: string) => {
    let p = p0;
    const path = [{ x: p, y: p }];
    for (let i = 0; i < 4; i++) {
      const q = r(F(p));
      path.push({ x: p, y: q }, { x: q, y: q });
      p = q;
    }
    return { label, path };
  };
  return {
    curve: Array.from({ length: 21 }, (_, i) => ({ p: i / 20, F: r(F(i / 20)) })),
    fixedPoints: [
      { p: 0.13, stable: true, label: '1/v' },
      { p: 0.4, stable: false, label: 'p* = 0.400' },
      { p: 1, stable: true, label: '1' },
    ],
    cobwebs: [cobweb(0.5, 'above p*'), cobweb(0.33, 'below p*')],
    subtitle: 'synthetic: v = 8, m = 3, s = 2',
  };
}
