import type { TopLevelSpec } from 'vega-lite';
import type { ProcessName } from '../noise/process.ts';
import { classKeptFigure } from './figures/classKept.ts';
import { collapseFigure } from './figures/collapse.ts';
import { processLabel } from './figures/common.ts';
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

/**
 * The report's figures, in reading order: (a) class kept for the ε-process with mean-field
 * curves, (b) class kept for each real noise with population-dynamics curves, (c) the level
 * profile at the deepest depth, (d) the finite-size collapse, (e) χ, (f) the mean-field map.
 * A figure whose data are absent (a process not swept, χ with one trajectory) is left out.
 */
export function reportFigures(input: FigureSetInput): FigureEntry[] {
  const out: FigureEntry[] = [];
  const mf = input.meanField;
  const has = (p: ProcessName) => input.processes.includes(p) && input.rows.some((r) => r.process === p);
  const ec = mf?.criticalNoise ?? null;
  const criticalMark = ec !== null ? { label: `mean-field ε* = ${fmt(ec)}`, value: ec } : undefined;

  if (has('eps')) {
    out.push({
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
    });
  }
  for (const process of ['mask', 'uniform', 'gaussian'] as const) {
    if (!has(process)) continue;
    const pd = input.population.find((p) => p.process === process);
    out.push({
      name: `class-kept-${process}`,
      title: `Class kept vs noise, ${processLabel(process)}`,
      caption:
        `The same experiment with real forward noise (${process === 'gaussian' ? 'Gaussian diffusion on one-hot tokens, against t/T' : process === 'mask' ? 'tokens masked with probability ε' : 'tokens resampled uniformly with probability ε'}). ` +
        'Look for the same sharpening crossing, but at a much lower noise than the mean-field ε* (one erased or wrong leaf spoils most of its parent’s evidence).' +
        (pd
          ? ` Dashed: population dynamics of the exact BP messages on the same grammars (${pd.grammarSeeds.length} grammar${pd.grammarSeeds.length > 1 ? 's' : ''}, ${pd.population} messages per symbol).`
          : ''),
      spec: classKeptFigure(input.rows, {
        process,
        scheduleName: input.scheduleName,
        ...(pd ? { theory: { label: 'population dynamics', points: pd.points } } : {}),
      }),
    });
  }
  const levelProcess: ProcessName | undefined = has('eps') ? 'eps' : input.processes.find(has);
  if (levelProcess) {
    const depth = Math.max(...input.rows.filter((r) => r.process === levelProcess).map((r) => r.depth));
    const pl = input.populationLevels;
    const theory = pl && pl.process === levelProcess && pl.depth === depth ? { label: 'population dynamics', points: pl.points } : undefined;
    out.push({
      name: `levels-${levelProcess}`,
      title: `Level by level at L = ${depth}, ${processLabel(levelProcess)}`,
      caption:
        'P_ℓ, the fraction of level-ℓ nodes of the latent tree kept, from the root (ℓ = 0, the class) to the leaves (ℓ = L, the tokens). Look for the root falling sharply at the transition while the levels near the leaves decay smoothly: past the threshold the class is lost but many low-level features survive.' +
        (theory ? ` Dashed: population dynamics of the BP messages with the downward pass (full marginals) on the same grammars (${pl!.population} messages per symbol).` : ''),
      spec: levelKeptFigure(input.rows, { process: levelProcess, depth, scheduleName: input.scheduleName, ...(theory ? { theory } : {}) }),
    });
  }
  if (has('eps') && mf && mf.criticalNoise !== null && mf.lambda !== null) {
    out.push({
      name: 'collapse-eps',
      title: 'Finite-size collapse, ε-process',
      caption: `P₀ against (ε − ε*)·λ^L with the mean-field ε* = ${fmt(mf.criticalNoise)} and λ = F′(p*) = ${fmt(mf.lambda)}. Look for the curves of all depths falling onto one scaling function: the transition window shrinks like λ^−L (correlation-length exponent ν = ln s / ln λ = ${fmt(mf.nu ?? NaN)}). Dashed: the mean-field scaling function at L = ${mf.scaling?.depth ?? '∞'}.`,
      spec: collapseFigure(input.rows, {
        process: 'eps',
        critical: mf.criticalNoise,
        lambda: mf.lambda,
        ...(mf.scaling ? { scaling: { label: 'mean-field scaling function', points: mf.scaling.points } } : {}),
      }),
    });
  }
  const chiProcess: ProcessName | undefined = has('eps') ? 'eps' : input.processes.find(has);
  if (chiProcess && input.rows.some((r) => r.process === chiProcess && r.chi !== null)) {
    out.push({
      name: `chi-${chiProcess}`,
      title: `Correlated changes, ${processLabel(chiProcess)}`,
      caption:
        'χ = Σ_ij C_ij / Σ_i C_ii, where C is the covariance over round trips of “token i changed”: the number of tokens that change together. Look for a peak at the transition that grows with L: changes come in chunks whose size diverges at the threshold. Bands: ± 1 s.e. over grammar seeds (none with one seed).',
      spec: susceptibilityFigure(input.rows, { process: chiProcess, scheduleName: input.scheduleName, ...(chiProcess === 'eps' && criticalMark ? { critical: criticalMark } : {}) }),
    });
  }
  if (mf) {
    out.push({
      name: 'mean-field-map',
      title: 'The mean-field map F(p)',
      caption:
        'The belief p in the true symbol, one level up: p_ℓ₋₁ = F(p_ℓ) (docs/science.md §5). Fixed points are where F crosses the diagonal; filled = stable. Look for the unstable p* separating two basins: cobwebs starting from leaf beliefs just above p* climb to 1 (class kept), just below it sink to 1/v (class lost).' +
        (mf.pStar !== null ? ` p* = ${fmt(mf.pStar)}.` : ' These parameters have no transition.'),
      spec: meanFieldMapFigure(mf.map),
    });
  }
  return out;
}
