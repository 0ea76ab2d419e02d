/**
 * Predictions in the forward–backward experiment's own units (docs/science.md §4): noise is ε for eps,
 * uniform and mask, and the time fraction t/T (t = 0 clean) for gaussian.
 */
import type { Grammar } from '../grammar/grammar.ts';
import { noiseControl, type ProcessName } from '../noise/process.ts';
import { linearSchedule, type Schedule } from '../noise/schedule.ts';
import { effectiveLeafBelief, solveDecreasing } from './leafBelief.ts';
import { criticalPoint, predictLevels, validateMeanFieldParams, type MeanFieldParams } from './meanField.ts';
import { populationDynamics } from './quenchedPopulation.ts';

/** The two theories of the class transition. */
export type TheoryMethod = 'mean-field' | 'population';
export const THEORY_METHODS: readonly TheoryMethod[] = ['mean-field', 'population'];

/**
 * Whether a theory predicts a process (docs/theory.md, "Which method for which process"). The
 * mean-field map is derived for the ε-process on the tree of docs/science.md §5 (its soft leaf
 * evidence is what the map averages) and matches exact BP there within 0.02–0.04: for masking, substitution and Gaussian noise it is
 * quantitatively wrong (ε* 0.73 against about 0.26, 0.145 and t/T 0.11). Population dynamics
 * follows the law of the actual BP messages and applies to every process.
 */
export function theoryApplies(method: TheoryMethod, process: ProcessName): boolean {
  return method === 'population' || process === 'eps';
}

/** The theory that applies to a process and costs least: the mean-field map for eps, population dynamics otherwise. */
export function defaultTheoryMethod(process: ProcessName): TheoryMethod {
  return theoryApplies('mean-field', process) ? 'mean-field' : 'population';
}

/** The mean-field prediction at one noise level and depth. */
export interface MeanFieldPrediction {
  /** Effective leaf belief p_L = E[λ(x_0)] of the process at this noise (see leafBelief.ts). */
  leafBelief: number;
  /** P_0 ≈ F^L(p_L). */
  classKept: number;
  /** P_ℓ ≈ F^(L−ℓ)(p_L), ℓ = 0..L (upward-only approximation, docs/science.md §5). */
  levelKept: number[];
}

/** Mean-field prediction of docs/science.md §5 for any process, through its effective leaf belief. */
export function meanFieldPrediction(p: MeanFieldParams, process: ProcessName, noise: number, depth: number, schedule: Schedule = linearSchedule()): MeanFieldPrediction {
  validateMeanFieldParams(p);
  const leafBelief = effectiveLeafBelief(process, noiseControl(process, noise, schedule), p.vocab);
  const levelKept = predictLevels(p, leafBelief, depth);
  return { leafBelief, classKept: levelKept[0], levelKept };
}

/**
 * Mean-field critical noise of a process, in its noise units: the noise at which the effective
 * leaf belief equals p*. For eps and mask it is ε* = (1 − p*)/(1 − 1/v); for uniform and gaussian
 * it is found by bisection (gaussian to one schedule step, since ᾱ is read at integer t). Null
 * without a transition.
 */
export function meanFieldCriticalNoise(p: MeanFieldParams, process: ProcessName, schedule: Schedule = linearSchedule()): number | null {
  const c = criticalPoint(p);
  if (c.pStar === null) return null;
  if (process === 'eps' || process === 'mask') return c.criticalNoise;
  const pStar = c.pStar;
  const belief = (noise: number) => effectiveLeafBelief(process, noiseControl(process, noise, schedule), p.vocab);
  return solveDecreasing(belief, pStar, 0, 1, process === 'gaussian' ? 0.5 / schedule.T : 1e-12);
}

/** Population-dynamics prediction pooled over grammars (one run per grammar). */
export interface PopulationPrediction {
  population: number;
  grammars: number;
  /** Mean over grammars of P_0. */
  classKept: number;
  /** Spread (SD) of P_0 over grammars; null with one grammar (not estimable: the rule of every spread in results). */
  classKeptGrammarSD: number | null;
  /** Mean over grammars of the marginal profile P_ℓ, ℓ = 0..L. */
  levelKept: number[] | null;
  /** Mean over grammars of the upward-only profile. */
  upwardKept: number[];
}

export interface PopulationPredictionOptions {
  process: ProcessName;
  noise: number;
  schedule?: Schedule;
  population?: number;
  seed?: number;
  levels?: boolean;
  /** Called after each grammar's run (for progress). */
  onRun?: () => void;
}

/** Runs {@link populationDynamics} on each grammar (all of one depth) and pools the results. */
export function populationPrediction(grammars: readonly Grammar[], o: PopulationPredictionOptions): PopulationPrediction {
  const results = grammars.map((g) => {
    const r = populationDynamics(g, {
      process: o.process,
      noise: o.noise,
      ...(o.schedule ? { schedule: o.schedule } : {}),
      ...(o.population !== undefined ? { population: o.population } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.levels !== undefined ? { levels: o.levels } : {}),
    });
    o.onRun?.();
    return r;
  });
  const n = results.length;
  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const p0 = results.map((r) => r.classKept);
  const mean = meanOf(p0);
  const sd = n > 1 ? Math.sqrt(p0.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : null;
  const L = results[0].depth;
  const profile = (pick: (r: (typeof results)[number]) => number[] | null) =>
    results.every((r) => pick(r) !== null) ? Array.from({ length: L + 1 }, (_, l) => meanOf(results.map((r) => pick(r)![l]))) : null;
  return {
    population: results[0].population,
    grammars: n,
    classKept: mean,
    classKeptGrammarSD: sd,
    levelKept: profile((r) => r.levelKept),
    upwardKept: profile((r) => r.upwardKept)!,
  };
}
