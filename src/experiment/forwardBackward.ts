import { createRng } from '../core/random.ts';
import { checkInt } from '../core/errors.ts';
import type { BpBackend } from '../bp/types.ts';
import { referenceBackend } from '../bp/reference.ts';
import { generate } from '../grammar/generate.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount, symbolsAt } from '../grammar/params.ts';
import { makeProcess, PROCESS_NAMES, type ProcessName } from '../noise/process.ts';
import type { Schedule } from '../noise/schedule.ts';
import type { CellStats } from './cell.ts';
import { ObservableAccumulator } from './observables.ts';

/** One cell of a forward–backward grid. */
export interface CellSpec {
  readonly grammarSeed: number;
  readonly depth: number;
  readonly process: ProcessName;
  /** ε for eps/uniform/mask, t/T for gaussian. */
  readonly noise: number;
}

export interface CellOptions {
  /** N: data per cell. */
  readonly samples: number;
  /** K: posterior trajectories per datum (χ needs K ≥ 2). */
  readonly trajectories: number;
  /** Schedule for time-based processes (gaussian). */
  readonly schedule: Schedule;
  /** Compute marginals at every level (downward pass) for the marginal level estimator. Default true. */
  readonly marginals?: boolean;
  /** Compute C(r) and C by tree distance (O(d²·K) per datum). Default false. */
  readonly correlations?: boolean;
  readonly backend?: BpBackend;
  /** Called after each batch with the number of data done so far in this cell. */
  readonly onProgress?: (samplesDone: number) => void;
}

/** Random stream roles; with (grammar seed, depth, process, noise, batch) they key every stream. */
const STREAM_DATA = 1;
const STREAM_NOISE = 2;
const STREAM_POSTERIOR = 3;

/**
 * Data per batch: a fixed function of the token count, so results never depend on anything but
 * the cell and its seed (≈ 2^16 tokens, at most 256 data, per batch keeps memory bounded).
 */
export function batchSizeFor(tokens: number): number {
  return Math.max(1, Math.min(256, Math.floor(65536 / tokens)));
}

/** Integer stream key of a noise level (noise levels are compared to 1e−9). */
export function noiseKey(noise: number): number {
  return Math.round(noise * 1e9);
}

/**
 * Runs the forward–backward experiment of SPEC §4 for one cell: N data with their latent trees,
 * forward noise, exact BP, K posterior samples per datum, and the observables. Data depend only
 * on (grammar seed, depth), so every process and noise level sees the same data.
 */
export function runCell(grammar: Grammar, cell: CellSpec, options: CellOptions): CellStats {
  const samples = checkInt('samples', options.samples, 1, 1e9);
  const K = checkInt('trajectories', options.trajectories, 1, 1e6);
  if (grammar.depth !== cell.depth) throw new Error(`grammar depth ${grammar.depth} differs from cell depth ${cell.depth}`);
  const backend = options.backend ?? referenceBackend;
  const withMarginals = options.marginals ?? true;
  const process = makeProcess(cell.process, cell.noise, options.schedule);
  const processIndex = PROCESS_NAMES.indexOf(cell.process);
  const key = noiseKey(cell.noise);
  const d = leafCount(grammar);
  const v = grammar.vocab;
  const symbolsPerLevel = Array.from({ length: grammar.depth + 1 }, (_, l) => symbolsAt(grammar, l));
  const acc = new ObservableAccumulator(
    { ...cell, control: process.control, trajectories: K },
    grammar.tuple,
    symbolsPerLevel,
    { marginals: withMarginals, correlations: options.correlations ?? false },
  );
  const batch = batchSizeFor(d);
  for (let start = 0, b = 0; start < samples; start += batch, b++) {
    const count = Math.min(batch, samples - start);
    const truth = generate(grammar, count, createRng(cell.grammarSeed, cell.depth, STREAM_DATA, b));
    const x0 = truth.levels[grammar.depth];
    const lambda = new Float64Array(count * d * v);
    process.likelihood(process.sample(x0, v, createRng(cell.grammarSeed, cell.depth, STREAM_NOISE, processIndex, key, b)), v, lambda);
    const up = backend.upward(grammar, lambda, count);
    const marginals = withMarginals ? backend.marginals(grammar, up) : null;
    const posterior = backend.sample(grammar, up, createRng(cell.grammarSeed, cell.depth, STREAM_POSTERIOR, processIndex, key, b), K);
    acc.add(truth, posterior, up.messages[0], marginals);
    options.onProgress?.(start + count);
  }
  return acc.stats;
}
