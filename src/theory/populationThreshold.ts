/** The L → ∞ threshold of a process located by bisection on population dynamics at a large depth. */
import { checkInt, checkNumber } from '../core/errors.ts';
import type { RuleRng } from '../grammar/sampleRules.ts';
import type { ProcessName } from '../noise/process.ts';
import type { Schedule } from '../noise/schedule.ts';
import { annealedPopulationDynamics } from './annealedPopulation.ts';
import { deepGrammar, type GrammarSizes } from './deepGrammar.ts';
import type { PopulationOptions } from './population.ts';
import { populationDynamics } from './quenchedPopulation.ts';

/** Options of {@link populationThreshold}. */
export interface ThresholdOptions {
  readonly process: ProcessName;
  /** Depth at which the crossing is located (default 30). */
  readonly depth?: number;
  readonly grammarSeeds?: readonly number[];
  readonly rng?: RuleRng;
  readonly population?: number;
  readonly seed?: number;
  readonly schedule?: Schedule;
  /** Bisection stops when the bracket is this narrow (default 1e−3). */
  readonly tolerance?: number;
  /** Use annealed rules instead of the grammars (grammarSeeds ignored). */
  readonly annealed?: boolean;
}

export interface ThresholdResult {
  process: ProcessName;
  depth: number;
  annealed: boolean;
  /** Per grammar seed (one entry when annealed): the noise where P_0(noise, depth) = (1 + 1/n_c)/2. */
  perGrammar: { grammarSeed: number | null; threshold: number }[];
  mean: number;
  /** Spread of the per-grammar thresholds (0 with one). */
  sd: number;
}

/**
 * Estimates the L → ∞ threshold of a process: for each grammar, bisection in the noise level for
 * P_0(noise, L) = (1 + 1/n_c)/2 at a large depth L (default 30), where the transition window
 * (∝ λ^−L) is far narrower than the tolerance. P_0 falls with noise; common random numbers across
 * noise levels keep the bisection monotone in practice.
 */
export function populationThreshold(sizes: GrammarSizes, options: ThresholdOptions): ThresholdResult {
  const depth = checkInt('depth', options.depth ?? 30, 1, 100000);
  const tolerance = checkNumber('tolerance', options.tolerance ?? 1e-3, 1e-9, 0.5);
  const annealed = options.annealed ?? false;
  const seeds = annealed ? [null] : [...(options.grammarSeeds ?? [0])];
  const classes = sizes.classes ?? sizes.vocab;
  const target = (1 + 1 / classes) / 2;
  const perGrammar = seeds.map((grammarSeed) => {
    const g = grammarSeed === null ? null : deepGrammar(sizes, depth, grammarSeed, options.rng ?? 'own');
    const p0 = (noise: number) => {
      const o: PopulationOptions = {
        process: options.process,
        noise,
        levels: false,
        ...(options.population !== undefined ? { population: options.population } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.schedule !== undefined ? { schedule: options.schedule } : {}),
      };
      return g ? populationDynamics(g, o).classKept : annealedPopulationDynamics({ ...sizes, depth }, o).classKept;
    };
    let lo = 0;
    let hi = 1;
    while (hi - lo > tolerance) {
      const mid = 0.5 * (lo + hi);
      if (p0(mid) > target) lo = mid;
      else hi = mid;
    }
    return { grammarSeed, threshold: 0.5 * (lo + hi) };
  });
  const values = perGrammar.map((x) => x.threshold);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { process: options.process, depth, annealed, perGrammar, mean, sd };
}
