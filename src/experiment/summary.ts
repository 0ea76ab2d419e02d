import { ParamError } from '../core/errors.ts';
import { noiseKey } from '../noise/level.ts';
import { PROCESS_NAMES, type ProcessName } from '../noise/process.ts';
import type { CellStats } from './cell.ts';
import { mean, mergeMoments, standardError, type Moments } from './moments.ts';

/**
 * One row of a forward–backward result: one depth, process and noise level, pooled over grammar
 * seeds (docs/science.md §4). Standard errors treat the pooled data as independent; `classKeptGrammarSD` is
 * the spread of the per-grammar means, the grammar-to-grammar variability.
 *
 * One rule for every spread (each `…SE` and `…SD`): null when it is not estimable, i.e. computed
 * from fewer than two values (an SE from one datum, an SD or χ's SE over one grammar seed), never 0;
 * 0 means a measured spread of zero. CSV writes null as an empty cell, tables as "-".
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
  classKeptSE: number | null;
  /** P_0 by the sampled estimator Pr[ĉ = c]. */
  classKeptSampled: number;
  classKeptSampledSE: number | null;
  /** Sample standard deviation of the per-grammar classKept; null with one grammar seed. */
  classKeptGrammarSD: number | null;
  /** P_ℓ for ℓ = 0 (root) … L (leaves), marginal estimator (sampled if marginals were skipped). */
  levelKept: number[];
  levelKeptSE: (number | null)[];
  levelKeptSampled: number[];
  levelKeptSampledSE: (number | null)[];
  /** P_L: the token overlap. */
  tokenKept: number;
  tokenKeptSE: number | null;
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

/** Key that groups cells of different grammar seeds into one row (the level by its {@link noiseKey}). */
export function rowKey(c: Pick<CellStats, 'depth' | 'process' | 'noise'>): string {
  return `${c.depth}|${c.process}|${noiseKey(c.noise)}`;
}

/** Pools the cells of each (depth, process, noise) into a row, in first-seen order. */
export function summariseCells(cells: readonly CellStats[]): ForwardBackwardRow[] {
  if (!Array.isArray(cells)) throw new ParamError('cells', 'invalid cells (expected an array of cell statistics)');
  cells.forEach(checkCell);
  const groups = new Map<string, CellStats[]>();
  for (const c of cells) {
    const k = rowKey(c);
    const g = groups.get(k);
    if (g) g.push(c);
    else groups.set(k, [c]);
  }
  return [...groups.values()].map(checkGroup).map(summariseGroup);
}

function badCell(i: number, what: string): never {
  throw new ParamError('cells', `invalid cells[${i}]: ${what}`);
}

function isCount(x: unknown, min: number): boolean {
  return Number.isInteger(x) && (x as number) >= min && (x as number) <= Number.MAX_SAFE_INTEGER;
}

function isFiniteNumber(x: unknown): boolean {
  return typeof x === 'number' && Number.isFinite(x);
}

/**
 * Moments of per-datum values in [0, 1] (kept probabilities and fractions): at least one datum and
 * 0 ≤ sum, sumSq ≤ count, so every mean and standard error is a number.
 */
function checkMoments(i: number, name: string, m: unknown): void {
  const o = m as Partial<Moments> | null;
  if (typeof o !== 'object' || o === null) badCell(i, `${name} is not moments`);
  if (!isCount(o.count, 1)) badCell(i, `${name}.count ${String(o.count)} (expected an integer >= 1: a cell without data has no statistics)`);
  const count = o.count as number;
  for (const key of ['sum', 'sumSq'] as const) {
    const x = o[key];
    if (!(typeof x === 'number' && x >= 0 && x <= count)) badCell(i, `${name}.${key} ${String(x)} (expected a number in [0, count])`);
  }
}

function checkFiniteArray(i: number, name: string, a: unknown): void {
  if (a === undefined) return;
  if (!Array.isArray(a) || !a.every(isFiniteNumber)) badCell(i, `${name} must be an array of finite numbers`);
}

/** Validates one cell's shape and ranges (ParamError on `cells`). */
function checkCell(c: CellStats, i: number): void {
  if (typeof c !== 'object' || c === null) badCell(i, 'expected an object');
  if (!isCount(c.depth, 1)) badCell(i, `depth ${String(c.depth)} (expected an integer >= 1)`);
  if (!(PROCESS_NAMES as readonly unknown[]).includes(c.process)) badCell(i, `process "${String(c.process)}" (expected ${PROCESS_NAMES.join(', ')})`);
  if (!isFiniteNumber(c.noise)) badCell(i, `noise ${String(c.noise)} (expected a finite number)`);
  if (!isFiniteNumber(c.control)) badCell(i, `control ${String(c.control)} (expected a finite number)`);
  if (!isCount(c.grammarSeed, 0)) badCell(i, `grammarSeed ${String(c.grammarSeed)} (expected an integer >= 0)`);
  if (!isCount(c.samples, 1)) badCell(i, `samples ${String(c.samples)} (expected an integer >= 1)`);
  if (!isCount(c.trajectories, 1)) badCell(i, `trajectories ${String(c.trajectories)} (expected an integer >= 1)`);
  checkMoments(i, 'classMarginal', c.classMarginal);
  checkMoments(i, 'classSampled', c.classSampled);
  const levels = c.depth + 1;
  if (!Array.isArray(c.levelSampled) || c.levelSampled.length !== levels) badCell(i, `levelSampled must have depth + 1 = ${levels} entries`);
  c.levelSampled.forEach((m, l) => checkMoments(i, `levelSampled[${l}]`, m));
  if (!Array.isArray(c.levelMarginal) || (c.levelMarginal.length !== 0 && c.levelMarginal.length !== levels)) {
    badCell(i, `levelMarginal must have 0 or depth + 1 = ${levels} entries`);
  }
  c.levelMarginal.forEach((m, l) => checkMoments(i, `levelMarginal[${l}]`, m));
  if (!isFiniteNumber(c.chiNumerator)) badCell(i, `chiNumerator ${String(c.chiNumerator)} (expected a finite number)`);
  if (!isFiniteNumber(c.chiDenominator)) badCell(i, `chiDenominator ${String(c.chiDenominator)} (expected a finite number)`);
  checkFiniteArray(i, 'correlationByDistance', c.correlationByDistance);
  checkFiniteArray(i, 'correlationByTreeDistance', c.correlationByTreeDistance);
}

/** The cells pooled into one row must agree on the correlation lengths and keep the χ sums finite. */
function checkGroup(cells: CellStats[]): CellStats[] {
  const first = cells[0];
  for (const key of ['correlationByDistance', 'correlationByTreeDistance'] as const) {
    const n = first[key]?.length;
    if (cells.some((c) => c[key] !== undefined && c[key].length !== n)) {
      throw new ParamError('cells', `invalid cells: ${key} lengths differ within depth ${first.depth}, ${first.process}, noise ${first.noise}`);
    }
  }
  const sums = [
    cells.reduce((a, c) => a + c.chiNumerator, 0),
    cells.reduce((a, c) => a + c.chiDenominator, 0),
    ...['correlationByDistance', 'correlationByTreeDistance'].flatMap((key) =>
      Array.from({ length: (first as unknown as Record<string, number[] | undefined>)[key]?.length ?? 0 }, (_, r) =>
        cells.reduce((a, c) => a + ((c as unknown as Record<string, number[] | undefined>)[key]?.[r] ?? 0), 0),
      ),
    ),
  ];
  if (!sums.every(Number.isFinite)) throw new ParamError('cells', `invalid cells: sums overflow within depth ${first.depth}, ${first.process}, noise ${first.noise}`);
  return cells;
}

function summariseGroup(cells: CellStats[]): ForwardBackwardRow {
  const first = cells[0];
  const L = first.depth;
  const classMarginal = mergeMoments(cells.map((c) => c.classMarginal));
  const classSampled = mergeMoments(cells.map((c) => c.classSampled));
  const perGrammar = cells.map((c) => mean(c.classMarginal));
  const gm = perGrammar.reduce((a, b) => a + b, 0) / perGrammar.length;
  const grammarSD = perGrammar.length > 1 ? Math.sqrt(perGrammar.reduce((a, x) => a + (x - gm) ** 2, 0) / (perGrammar.length - 1)) : null;
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
