import { createRng } from '../core/random.ts';
import { ParamError } from '../core/errors.ts';
import { checkOption, OPTIONS } from '../core/options.ts';
import {
  cellJsonChars,
  cellResultBytes,
  fastBatchBytes,
  formatBytes,
  MAX_GRID_CELLS,
  MAX_STRING_CHARS,
  MEMORY_LIMIT_ENV,
  memoryLimit,
  referenceBatchBytes,
  WASM_MEMORY_BYTES,
} from '../core/resources.ts';
import { referenceBackend } from '../bp/reference.ts';
import type { BpBackend, FloatArray } from '../bp/types.ts';
import { defaultBackend } from '../bp/fast.ts';
import { generate, type TreeBatch } from '../grammar/generate.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount, symbolsAt } from '../grammar/params.ts';
import { noiseKey } from '../noise/level.ts';
import { leafLogLikelihood, makeProcess, PROCESS_STREAM_IDS, type NoiseProcess, type Observation, type ProcessName } from '../noise/process.ts';
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
  /** BP implementation; default the fast float64 kernels (src/bp/fast.ts). */
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

/** What one batch of a cell yields before the observables (docs/science.md §4). */
export interface BatchOutcome {
  /** The clean data with their latent trees. */
  readonly truth: TreeBatch;
  /** K posterior trees per datum (row n·K + t). */
  readonly posterior: TreeBatch;
  /** Class posterior μ_0, count·n_c, datum-major. */
  readonly rootPosterior: FloatArray;
  /** Marginal level estimator per datum, count·(L+1) (see BatchResult.levelMarginalKept), when marginals are on. */
  readonly marginalKept: Float64Array | null;
}

/** Number of batches of a cell and the data per batch. */
export function cellBatches(grammar: Grammar, samples: number): { batch: number; batches: number } {
  const batch = batchSizeFor(leafCount(grammar));
  return { batch, batches: Math.ceil(samples / batch) };
}

/** A cell ready to run: checked, and its noise process built, once for all its batches. */
export interface PreparedCell {
  readonly grammar: Grammar;
  readonly cell: CellSpec;
  readonly options: CellOptions;
  readonly process: NoiseProcess;
}

/** Checks a cell and builds its process (the library's one check of the cell's options). */
export function prepareCell(grammar: Grammar, cell: CellSpec, options: CellOptions): PreparedCell {
  checkOption(OPTIONS.samples, options.samples);
  checkOption(OPTIONS.trajectories, options.trajectories);
  if (grammar.depth !== cell.depth) throw new Error(`grammar depth ${grammar.depth} differs from cell depth ${cell.depth}`);
  return { grammar, cell, options, process: makeProcess(cell.process, cell.noise, options.schedule) };
}

/** The observables' accumulator of a cell (fold {@link BatchOutcome}s into it in batch order). */
export function cellAccumulator({ grammar, cell, options, process }: PreparedCell): ObservableAccumulator {
  const symbolsPerLevel = Array.from({ length: grammar.depth + 1 }, (_, l) => symbolsAt(grammar, l));
  return new ObservableAccumulator({ ...cell, control: process.control, trajectories: options.trajectories }, grammar.tuple, symbolsPerLevel, {
    marginals: options.marginals ?? true,
    correlations: options.correlations ?? false,
  });
}

/** Tokens [start, end) of an observation (a process's likelihood is token by token). */
function sliceObservation(obs: Observation, start: number, end: number, v: number): Observation {
  return obs.kind === 'tokens' ? { kind: 'tokens', tokens: obs.tokens.subarray(start, end) } : { kind: 'vectors', vectors: obs.vectors.subarray(start * v, end * v) };
}

/**
 * Batch `b` of a cell: data, forward noise, exact BP and K posterior samples. It depends only on
 * (cell, b), never on which thread runs it, so batches can run anywhere and be folded in order.
 */
export function runBatch({ grammar, cell, options, process }: PreparedCell, b: number): BatchOutcome {
  const backend = options.backend ?? defaultBackend;
  const processId = PROCESS_STREAM_IDS[cell.process];
  const key = noiseKey(cell.noise);
  const d = leafCount(grammar);
  const v = grammar.vocab;
  const { batch } = cellBatches(grammar, options.samples);
  const count = Math.min(batch, options.samples - b * batch);
  const truth = generate(grammar, count, createRng(cell.grammarSeed, cell.depth, STREAM_DATA, b));
  const x0 = truth.levels[grammar.depth];
  const obs = process.sample(x0, v, createRng(cell.grammarSeed, cell.depth, STREAM_NOISE, processId, key, b));
  const r = backend.batch(grammar, {
    count,
    likelihood: (start, end, out) => process.likelihood(sliceObservation(obs, start * d, end * d, v), v, out),
    logLikelihood: (start, end, out) => leafLogLikelihood(process, sliceObservation(obs, start * d, end * d, v), v, out),
    rng: createRng(cell.grammarSeed, cell.depth, STREAM_POSTERIOR, processId, key, b),
    trajectories: options.trajectories,
    truth: (options.marginals ?? true) ? truth : null,
    tokenEvidence: process.tokenEvidence?.(obs, v) ?? null,
  });
  return { truth, posterior: r.posterior, rootPosterior: r.rootPosterior, marginalKept: r.levelMarginalKept };
}

/**
 * Runs the forward–backward experiment of docs/science.md §4 for one cell: N data with their latent trees,
 * forward noise, exact BP, K posterior samples per datum, and the observables. Data depend only
 * on (grammar seed, depth), so every process and noise level sees the same data.
 */
export function runCell(grammar: Grammar, cell: CellSpec, options: CellOptions): CellStats {
  const prepared = prepareCell(grammar, cell, options);
  const acc = cellAccumulator(prepared);
  const { batch, batches } = cellBatches(grammar, options.samples);
  for (let b = 0; b < batches; b++) {
    const r = runBatch(prepared, b);
    acc.add(r.truth, r.posterior, r.rootPosterior, r.marginalKept);
    options.onProgress?.(Math.min(options.samples, (b + 1) * batch));
  }
  return acc.stats;
}

/** What a forward–backward grid may use (see {@link planGridResources}). */
export interface GridResourcePlan {
  /** Depths whose cells run on another backend than the requested one (the fast kernels would not fit). */
  readonly backendByDepth: Map<number, BpBackend>;
  /** Worker threads that fit in memory (≤ the requested number; results do not depend on it). */
  readonly workers: number;
  /** One line per change made, for stderr. */
  readonly notes: string[];
}

/**
 * Memory plan of a forward–backward grid before anything runs (docs/limits.md): refuses grids
 * with more than MAX_GRID_CELLS cells, whose results would not fit, or (`json`: --out is given)
 * whose results JSON would exceed the longest string; per depth, keeps the
 * requested backend when one batch fits (the fast kernels also within the 4 GiB WebAssembly
 * memory), else falls back to the reference backend, else refuses; and lowers the number of
 * workers so that one batch per worker fits. Results do not depend on the workers, and cells
 * that keep their backend are unchanged.
 */
export function planGridResources(
  grammarOfDepth: (depth: number) => Grammar,
  grid: { grammars: number; depths: readonly number[]; processes: number; noises: number },
  options: { samples: number; trajectories: number; correlations: boolean; backend: BpBackend; workers: number; json: boolean },
): GridResourcePlan {
  const cells = grid.grammars * grid.depths.length * grid.processes * grid.noises;
  const deepest = Math.max(...grid.depths);
  const resultBytes = cells * cellResultBytes(deepest, options.correlations, leafCount(grammarOfDepth(deepest)));
  const gridText = `${grid.grammars} grammars × ${grid.depths.length} depths × ${grid.processes} processes × ${grid.noises} noise levels = ${cells} cells`;
  const advice = 'forward-backward keeps every cell and writes one JSON; run a smaller grid, or the grid as a sweep (JSON lines, split with --shard i/N)';
  if (cells > MAX_GRID_CELLS) {
    throw new ParamError('grid', `invalid grid: ${gridText} (at most ${MAX_GRID_CELLS} cells per run: ${advice})`);
  }
  const jsonChars = cells * cellJsonChars(deepest, options.correlations, leafCount(grammarOfDepth(deepest)));
  if (options.json && jsonChars > MAX_STRING_CHARS) {
    throw new ParamError('grid', `invalid grid: ${gridText} (its --out JSON would be ≈ ${formatBytes(jsonChars)}, one JSON text is at most ${formatBytes(MAX_STRING_CHARS)}: ${advice})`);
  }
  const limit = memoryLimit();
  if (resultBytes > limit) {
    throw new ParamError('grid', `invalid grid: ${gridText} (needs ≈ ${formatBytes(resultBytes)} of memory, the limit is ${formatBytes(limit)}: ${advice})`);
  }
  const budget = limit - resultBytes;
  const backendByDepth = new Map<number, BpBackend>();
  const notes: string[] = [];
  let perWorker = 0;
  for (const depth of grid.depths) {
    const g = grammarOfDepth(depth);
    const batch = Math.min(options.samples, batchSizeFor(leafCount(g)));
    const referenceBytes = referenceBatchBytes(g, batch, options.trajectories);
    const precision = options.backend.name === 'fast32' ? 'f32' : options.backend.name === 'fast' ? 'f64' : null;
    let bytes = precision ? fastBatchBytes(g, batch, precision, options.trajectories) : referenceBytes;
    if (precision && (bytes > WASM_MEMORY_BYTES || bytes > budget)) {
      const why = bytes > WASM_MEMORY_BYTES ? `the WebAssembly memory of the ${options.backend.name} kernels is at most ${formatBytes(WASM_MEMORY_BYTES)}` : `the limit is ${formatBytes(budget)}`;
      if (referenceBytes <= budget) {
        backendByDepth.set(depth, referenceBackend);
        notes.push(
          `forward-backward: depth ${depth}: the ${options.backend.name} backend needs ≈ ${formatBytes(bytes)} (${why}); using the reference backend (≈ ${formatBytes(referenceBytes)}, slower)`,
        );
        bytes = referenceBytes;
      } else {
        throw new ParamError(
          'depth',
          `invalid --depth ${depth} (needs ≈ ${formatBytes(Math.min(bytes, referenceBytes))} of memory for one datum's exact BP, the limit is ${formatBytes(budget)}: lower the depth, or raise ${MEMORY_LIMIT_ENV} on a larger machine)`,
        );
      }
    } else if (bytes > budget) {
      throw new ParamError(
        'depth',
        `invalid --depth ${depth} (needs ≈ ${formatBytes(bytes)} of memory for one batch of exact BP, the limit is ${formatBytes(budget)}: lower the depth, or raise ${MEMORY_LIMIT_ENV} on a larger machine)`,
      );
    }
    perWorker = Math.max(perWorker, bytes);
  }
  const workers = Math.max(1, Math.min(options.workers, Math.floor(budget / Math.max(1, perWorker))));
  if (workers < options.workers)
    notes.push(`forward-backward: ${workers} worker${workers === 1 ? '' : 's'} instead of ${options.workers} (≈ ${formatBytes(perWorker)} per worker, the limit is ${formatBytes(limit)})`);
  return { backendByDepth, workers, notes };
}
