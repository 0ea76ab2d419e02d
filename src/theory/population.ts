/**
 * What the population-dynamics theories share (docs/science.md §2, §4): their options and result,
 * the option check, the leaf messages drawn from the process itself, and the random-stream roles.
 *
 * Determinism and parallelism: every (pass, level, symbol) block draws from its own stream
 * `createRng(seed, role, level, symbol)`, so blocks of one level may run on any worker in any
 * order with identical results. Streams do not depend on the process or the noise level: nearby
 * noise levels see common random numbers, which makes curves smooth and bisection stable.
 */
import { checkInt } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import { makeProcess, type NoiseProcess, type ProcessName } from '../noise/process.ts';
import { linearSchedule, type Schedule } from '../noise/schedule.ts';

export interface PopulationOptions {
  readonly process: ProcessName;
  /** ε for eps, uniform and mask; the time fraction t/T (t = 0 clean) for gaussian. */
  readonly noise: number;
  /** Schedule for gaussian noise (default: DDPM linear, T = 1000). */
  readonly schedule?: Schedule;
  /** N: messages per (level, symbol). Default 1000. */
  readonly population?: number;
  /** Seed of the population streams (not of the grammar). Default 0. */
  readonly seed?: number;
  /** Also run the downward pass for the marginal level profile. Default true (not in annealed mode). */
  readonly levels?: boolean;
}

/** Result of one population-dynamics run: one grammar, depth, process and noise level. */
export interface PopulationResult {
  depth: number;
  process: ProcessName;
  noise: number;
  /** ε, or ᾱ for gaussian. */
  control: number;
  population: number;
  annealed: boolean;
  /** P_0 = E[μ_0(c_true)]: mean over classes c and members of the root message's mass on c. */
  classKept: number;
  /**
   * P_ℓ for ℓ = 0..L: mean over nodes of level ℓ of the marginal μ_ℓ(z_true) (full BP, as
   * forward–backward's marginal estimator); null when the downward pass was skipped.
   */
  levelKept: number[] | null;
  /** E[ν↑_ℓ(z_true)] for ℓ = 0..L, nodes weighted by the law of their symbol: the upward-only profile. */
  upwardKept: number[];
  /** Nodes whose every symbol had zero weight (possible only with hard or underflowing evidence); set uniform. */
  degenerate: number;
}

/** A run's result: the options' process and noise, the process's control, what the run measured. */
export function populationResult(o: PopulationOptions, control: number, r: Omit<PopulationResult, 'process' | 'noise' | 'control'>): PopulationResult {
  return {
    depth: r.depth,
    process: o.process,
    noise: o.noise,
    control,
    population: r.population,
    annealed: r.annealed,
    classKept: r.classKept,
    levelKept: r.levelKept,
    upwardKept: r.upwardKept,
    degenerate: r.degenerate,
  };
}

/** Stream roles, one per (theory, pass), all here so no two share one. */
export const STREAM_LEAVES = 11;
export const STREAM_UP = 12;
export const STREAM_DOWN = 13;
export const STREAM_ANNEALED_LEAVES = 21;
export const STREAM_ANNEALED_UP = 22;

/** Checks the options and builds the process (schedule defaulting to DDPM linear). */
export function resolveOptions(o: PopulationOptions) {
  const population = checkInt('population', o.population ?? 1000, 2, 1e7);
  const seed = checkInt('seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const schedule = o.schedule ?? linearSchedule();
  const process = makeProcess(o.process, o.noise, schedule);
  return { population, seed, process, schedule };
}

/**
 * Leaf messages of `symbol`: N clean leaves, forward-noised and turned into normalised likelihoods
 * by the process itself (docs/science.md §3), so the leaf law is exactly the simulation's.
 */
export function leafMessages(process: NoiseProcess, symbol: number, v: number, N: number, rng: Rng, out: Float64Array, offset: number): void {
  const x0 = new Int32Array(N).fill(symbol);
  const lambda = out.subarray(offset, offset + N * v);
  process.likelihood(process.sample(x0, v, rng), v, lambda);
  for (let n = 0; n < N; n++) {
    let z = 0;
    for (let b = 0; b < v; b++) z += lambda[n * v + b];
    if (z > 0) for (let b = 0; b < v; b++) lambda[n * v + b] /= z;
    else lambda.fill(1 / v, n * v, (n + 1) * v);
  }
}
