import type { TopLevelSpec } from 'vega-lite';
import type { ProcessName } from '../noise/process.ts';
import { classKeptFigure } from './figures/classKept.ts';
import { collapseFigure } from './figures/collapse.ts';
import { processLabel, type CriticalMark } from './figures/common.ts';
import { levelKeptFigure } from './figures/levels.ts';
import { meanFieldMapFigure } from './figures/meanFieldMap.ts';
import { susceptibilityFigure } from './figures/susceptibility.ts';
import type { ForwardBackwardRow } from '../experiment/summary.ts';
import type { MeanFieldTheory, PopulationCurves, PopulationLevels } from './theory.ts';

/** One figure of a report: file stem, title, what to look for, and its vega-lite spec. */
export interface FigureEntry {
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

export interface FigureSetInput {
  rows: readonly ForwardBackwardRow[];
  /** Processes in the order the sweep lists them. */
  processes: readonly ProcessName[];
  scheduleName: string;
  meanField: MeanFieldTheory | null;
  population: readonly PopulationCurves[];
  /** Predicted level profile (population dynamics with marginals), drawn in the level figure when it matches. */
  populationLevels?: PopulationLevels | null;
}

const fmt = (x: number, digits = 3) => x.toFixed(digits);

/** What every figure builder needs: the input and the mean-field ε* mark. */
interface FigureContext {
  input: FigureSetInput;
  criticalMark: CriticalMark | undefined;
}

const REAL_NOISES = ['mask', 'uniform', 'gaussian'] as const;

/**
 * The report's figures, in reading order: (a) class kept for the ε-process with mean-field
 * curves, (b) class kept for each real noise with population-dynamics curves, (c) the level
 * profile at the deepest depth, (d) the finite-size collapse, (e) χ, (f) the mean-field map.
 * A figure whose data are absent (a process not swept, χ with one trajectory) is left out.
 */
export function reportFigures(input: FigureSetInput): FigureEntry[] {
  const has = (p: ProcessName) => input.processes.includes(p) && input.rows.some((r) => r.process === p);
  const ec = input.meanField?.criticalNoise ?? null;
  const ctx: FigureContext = { input, criticalMark: ec !== null ? { label: `mean-field ε* = ${fmt(ec)}`, value: ec } : undefined };
  // The level and χ figures show the ε-process when swept, else the first swept process.
  const mainProcess: ProcessName | undefined = has('eps') ? 'eps' : input.processes.find(has);
  const entries = [
    has('eps') ? epsClassKeptEntry(ctx) : null,
    ...REAL_NOISES.filter(has).map((process) => realNoiseClassKeptEntry(ctx, process)),
    mainProcess ? levelsEntry(ctx, mainProcess) : null,
    has('eps') ? collapseEntry(ctx) : null,
    mainProcess ? chiEntry(ctx, mainProcess) : null,
    input.meanField ? meanFieldMapEntry(input.meanField) : null,
  ];
  return entries.filter((e): e is FigureEntry => e !== null);
}

/** (a) Class kept for the ε-process, with the mean-field curves and ε*. */
function epsClassKeptEntry({ input, criticalMark }: FigureContext): FigureEntry {
  const mf = input.meanField;
  const ec = mf?.criticalNoise ?? null;
  return {
    name: 'class-kept-eps',
    title: 'Class kept vs noise, ε-process (the main figure)',
    caption:
      'P₀, the probability that a round trip keeps the class, against ε for each depth L. Look for the curves crossing near ε* and steepening with L: a phase transition, which becomes a step as L → ∞. Dashed: the mean-field map F^L(p_L) (docs/science.md §5), close to exact BP.' +
      (ec !== null ? ` Mean-field ε* = ${fmt(ec)}.` : ''),
    spec: classKeptFigure(input.rows, {
      process: 'eps',
      ...(mf ? { theory: { label: 'mean-field theory', points: mf.classKept } } : {}),
      ...(criticalMark ? { critical: criticalMark } : {}),
    }),
  };
}

/** How a real noise corrupts the tokens, for the caption. */
function realNoiseDescription(process: (typeof REAL_NOISES)[number]): string {
  if (process === 'gaussian') return 'Gaussian diffusion on one-hot tokens, against t/T';
  return process === 'mask' ? 'tokens masked with probability ε' : 'tokens resampled uniformly with probability ε';
}

/** (b) Class kept for one real noise, with population-dynamics curves when computed. */
function realNoiseClassKeptEntry({ input }: FigureContext, process: (typeof REAL_NOISES)[number]): FigureEntry {
  const pd = input.population.find((p) => p.process === process);
  return {
    name: `class-kept-${process}`,
    title: `Class kept vs noise, ${processLabel(process)}`,
    caption:
      `The same experiment with real forward noise (${realNoiseDescription(process)}). ` +
      'Look for the same sharpening crossing, but at a much lower noise than the mean-field ε* (one erased or wrong leaf spoils most of its parent’s evidence).' +
      (pd
        ? ` Dashed: population dynamics of the exact BP messages on the same grammars (${pd.grammarSeeds.length} grammar${pd.grammarSeeds.length > 1 ? 's' : ''}, ${pd.population} messages per symbol).`
        : ''),
    spec: classKeptFigure(input.rows, {
      process,
      scheduleName: input.scheduleName,
      ...(pd ? { theory: { label: 'population dynamics', points: pd.points } } : {}),
    }),
  };
}

/** (c) The level profile at the deepest depth; the predicted profile is drawn only when it is for that process and depth. */
function levelsEntry({ input }: FigureContext, process: ProcessName): FigureEntry {
  const depth = Math.max(...input.rows.filter((r) => r.process === process).map((r) => r.depth));
  const pl = input.populationLevels;
  const matching = pl && pl.process === process && pl.depth === depth ? pl : null;
  const theory = matching ? { label: 'population dynamics', points: matching.points } : undefined;
  return {
    name: `levels-${process}`,
    title: `Level by level at L = ${depth}, ${processLabel(process)}`,
    caption:
      'P_ℓ, the fraction of level-ℓ nodes of the latent tree kept, from the root (ℓ = 0, the class) to the leaves (ℓ = L, the tokens). Look for the root falling sharply at the transition while the levels near the leaves decay smoothly: past the threshold the class is lost but many low-level features survive.' +
      (matching ? ` Dashed: population dynamics of the BP messages with the downward pass (full marginals) on the same grammars (${matching.population} messages per symbol).` : ''),
    spec: levelKeptFigure(input.rows, { process, depth, scheduleName: input.scheduleName, ...(theory ? { theory } : {}) }),
  };
}

/** (d) The finite-size collapse: needs ε* and λ, so only when the mean-field map has a transition. */
function collapseEntry({ input }: FigureContext): FigureEntry | null {
  const mf = input.meanField;
  if (!mf || mf.criticalNoise === null || mf.lambda === null) return null;
  return {
    name: 'collapse-eps',
    title: 'Finite-size collapse, ε-process',
    caption: `P₀ against (ε − ε*)·λ^L with the mean-field ε* = ${fmt(mf.criticalNoise)} and λ = F′(p*) = ${fmt(mf.lambda)}. Look for the curves of all depths falling onto one scaling function: the transition window shrinks like λ^−L (correlation-length exponent ν = ln s / ln λ = ${fmt(mf.nu ?? NaN)}). Dashed: the mean-field scaling function at L = ${mf.scaling?.depth ?? '∞'}.`,
    spec: collapseFigure(input.rows, {
      process: 'eps',
      critical: mf.criticalNoise,
      lambda: mf.lambda,
      ...(mf.scaling ? { scaling: { label: 'mean-field scaling function', points: mf.scaling.points } } : {}),
    }),
  };
}

/** (e) χ, when some row of the process has one (it needs two trajectories or more). */
function chiEntry({ input, criticalMark }: FigureContext, process: ProcessName): FigureEntry | null {
  if (!input.rows.some((r) => r.process === process && r.chi !== null)) return null;
  return {
    name: `chi-${process}`,
    title: `Correlated changes, ${processLabel(process)}`,
    caption:
      'χ = Σ_ij C_ij / Σ_i C_ii, where C is the covariance over round trips of “token i changed”: the number of tokens that change together. Look for a peak at the transition that grows with L: changes come in chunks whose size diverges at the threshold. Bands: ± 1 s.e. over grammar seeds (none with one seed).',
    spec: susceptibilityFigure(input.rows, { process, scheduleName: input.scheduleName, ...(process === 'eps' && criticalMark ? { critical: criticalMark } : {}) }),
  };
}

/** (f) The mean-field map with its fixed points and cobwebs. */
function meanFieldMapEntry(mf: MeanFieldTheory): FigureEntry {
  return {
    name: 'mean-field-map',
    title: 'The mean-field map F(p)',
    caption:
      'The belief p in the true symbol, one level up: p_ℓ₋₁ = F(p_ℓ) (docs/science.md §5). Fixed points are where F crosses the diagonal; filled = stable. Look for the unstable p* separating two basins: cobwebs starting from leaf beliefs just above p* climb to 1 (class kept), just below it sink to 1/v (class lost).' +
      (mf.pStar !== null ? ` p* = ${fmt(mf.pStar)}.` : ' These parameters have no transition.'),
    spec: meanFieldMapFigure(mf.map),
  };
}
