import type { ProcessName } from '../noise/process.ts';
import type { CellStats } from './cell.ts';
import { mean, mergeMoments, standardError } from './moments.ts';

/**
 * One row of a forward–backward result: one depth, process and noise level, pooled over grammar
 * seeds (docs/science.md §4). Standard errors treat the pooled data as independent; `classKeptGrammarSD` is
 * the spread of the per-grammar means, the grammar-to-grammar variability.
 */
export interface ForwardBackwardRow {
  depth: number;
  process: ProcessName;
  noise: number;
  control: number;
  grammarSeeds: number[];
  samples: number;
  trajectories: number;
  /** P_0 by the marginal (Rao–Blackwellised) estimator E[μ_0(c_true)]. */
  classKept: number;
  classKeptSE: number;
  /** P_0 by the sampled estimator Pr[ĉ = c]. */
  classKeptSampled: number;
  classKeptSampledSE: number;
  classKeptGrammarSD: number;
  /** P_ℓ for ℓ = 0 (root) … L (leaves), marginal estimator (sampled if marginals were skipped). */
  levelKept: number[];
  levelKeptSE: number[];
  levelKeptSampled: number[];
  levelKeptSampledSE: number[];
  /** P_L: the token overlap. */
  tokenKept: number;
  tokenKeptSE: number;
  /** χ = Σ_ij C_ij / Σ_i C_ii, or null with fewer than two trajectories. */
  chi: number | null;
  /**
   * Standard error of χ from its spread over grammar seeds (sd of the per-grammar χ / √G): χ is a
   * ratio of sums, with no per-datum variance. Null with one grammar seed or no χ.
   */
  chiSE: number | null;
  correlationByDistance?: number[];
  correlationByTreeDistance?: number[];
}

/** Key that groups cells of different grammar seeds into one row. */
export function rowKey(c: Pick<CellStats, 'depth' | 'process' | 'noise'>): string {
  return `${c.depth}|${c.process}|${c.noise}`;
}

/** Pools the cells of each (depth, process, noise) into a row, in first-seen order. */
export function summariseCells(cells: readonly CellStats[]): ForwardBackwardRow[] {
  const groups = new Map<string, CellStats[]>();
  for (const c of cells) {
    const k = rowKey(c);
    const g = groups.get(k);
    if (g) g.push(c);
    else groups.set(k, [c]);
  }
  return [...groups.values()].map(summariseGroup);
}

function summariseGroup(cells: CellStats[]): ForwardBackwardRow {
  const first = cells[0];
  const L = first.depth;
  const classMarginal = mergeMoments(cells.map((c) => c.classMarginal));
  const classSampled = mergeMoments(cells.map((c) => c.classSampled));
  const perGrammar = cells.map((c) => mean(c.classMarginal));
  const gm = perGrammar.reduce((a, b) => a + b, 0) / perGrammar.length;
  const grammarSD = perGrammar.length > 1 ? Math.sqrt(perGrammar.reduce((a, x) => a + (x - gm) ** 2, 0) / (perGrammar.length - 1)) : 0;
  const hasMarginals = cells.every((c) => c.levelMarginal.length === L + 1);
  const levelSampled = Array.from({ length: L + 1 }, (_, l) => mergeMoments(cells.map((c) => c.levelSampled[l])));
  const levelMarginal = hasMarginals ? Array.from({ length: L + 1 }, (_, l) => mergeMoments(cells.map((c) => c.levelMarginal[l]))) : levelSampled;
  const chiDen = cells.reduce((a, c) => a + c.chiDenominator, 0);
  const chiNum = cells.reduce((a, c) => a + c.chiNumerator, 0);
  const samples = classMarginal.count;
  const chi = first.trajectories >= 2 && chiDen > 0 ? chiNum / chiDen : null;
  const chis = cells.filter((c) => c.trajectories >= 2 && c.chiDenominator > 0).map((c) => c.chiNumerator / c.chiDenominator);
  let chiSE: number | null = null;
  if (chi !== null && chis.length >= 2) {
    const m = chis.reduce((a, b) => a + b, 0) / chis.length;
    chiSE = Math.sqrt(chis.reduce((a, x) => a + (x - m) ** 2, 0) / (chis.length - 1) / chis.length);
  }
  const row: ForwardBackwardRow = {
    depth: L,
    process: first.process,
    noise: first.noise,
    control: first.control,
    grammarSeeds: cells.map((c) => c.grammarSeed),
    samples,
    trajectories: first.trajectories,
    classKept: mean(classMarginal),
    classKeptSE: standardError(classMarginal),
    classKeptSampled: mean(classSampled),
    classKeptSampledSE: standardError(classSampled),
    classKeptGrammarSD: grammarSD,
    levelKept: levelMarginal.map(mean),
    levelKeptSE: levelMarginal.map(standardError),
    levelKeptSampled: levelSampled.map(mean),
    levelKeptSampledSE: levelSampled.map(standardError),
    tokenKept: mean(levelMarginal[L]),
    tokenKeptSE: standardError(levelMarginal[L]),
    chi,
    chiSE,
  };
  const withCorr = cells.filter((c) => c.correlationByDistance && c.correlationByTreeDistance);
  if (withCorr.length === cells.length && samples > 0) {
    row.correlationByDistance = withCorr[0].correlationByDistance!.map((_, r) => withCorr.reduce((a, c) => a + c.correlationByDistance![r], 0) / samples);
    row.correlationByTreeDistance = withCorr[0].correlationByTreeDistance!.map((_, h) => withCorr.reduce((a, c) => a + c.correlationByTreeDistance![h], 0) / samples);
  }
  return row;
}
