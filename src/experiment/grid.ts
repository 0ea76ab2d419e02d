import type { Grammar } from '../grammar/grammar.ts';
import type { ProcessName } from '../noise/process.ts';
import { availableParallelism } from 'node:os';
import { checkOption, OPTIONS } from '../core/options.ts';
import type { BpBackend } from '../bp/types.ts';
import type { CellStats } from './cell.ts';
import { cellBatches, planGridResources, runCell, type CellOptions, type CellSpec } from './forwardBackward.ts';
import { defaultBackend } from '../bp/fast.ts';
import { CellWorkerPool } from './parallelCell.ts';

/** A grid of forward–backward cells: grammar seeds × depths × processes × noise levels. */
export interface GridSpec {
  readonly grammarSeeds: readonly number[];
  readonly depths: readonly number[];
  readonly processes: readonly ProcessName[];
  readonly noises: readonly number[];
}

/** The cells of a grid in canonical order (grammar seed, depth, process, noise). */
export function gridCells(spec: GridSpec): CellSpec[] {
  const cells: CellSpec[] = [];
  for (const grammarSeed of spec.grammarSeeds)
    for (const depth of spec.depths) for (const process of spec.processes) for (const noise of spec.noises) cells.push({ grammarSeed, depth, process, noise });
  return cells;
}

export interface GridProgress {
  cellsDone: number;
  cellsTotal: number;
  samplesDone: number;
  samplesTotal: number;
}

/**
 * Runs every cell of a grid in order on this thread. `grammarFor` supplies the grammar of a
 * (grammar seed, depth) pair, e.g. `sampleRules` or a grammar loaded from a file.
 */
export function runGrid(
  grammarFor: (grammarSeed: number, depth: number) => Grammar,
  spec: GridSpec,
  options: Omit<CellOptions, 'onProgress'>,
  onProgress?: (p: GridProgress) => void,
  backendByDepth?: ReadonlyMap<number, BpBackend>,
): CellStats[] {
  const cells = gridCells(spec);
  const samplesTotal = cells.length * options.samples;
  const out: CellStats[] = [];
  const grammarOf = grammarCache(grammarFor);
  if (cells.length > 0 && !backendByDepth) backendByDepth = libraryPlan(grammarOf, spec, options, 1).backendByDepth;
  cells.forEach((cell, index) => {
    const g = grammarOf(cell.grammarSeed, cell.depth);
    const before = index * options.samples;
    out.push(
      runCell(g, cell, {
        ...options,
        ...cellBackend(backendByDepth, cell.depth),
        onProgress: (done) => onProgress?.({ cellsDone: index, cellsTotal: cells.length, samplesDone: before + done, samplesTotal }),
      }),
    );
    onProgress?.({ cellsDone: index + 1, cellsTotal: cells.length, samplesDone: before + options.samples, samplesTotal });
  });
  return out;
}

/**
 * The resource plan of a grid for library callers that bring no `backendByDepth` (the CLI plans
 * itself and passes its own): the checks of {@link planGridResources} — refused (ParamError)
 * when the grid or a batch cannot fit the memory limit, the reference backend at the depths the
 * fast kernels' WebAssembly memory cannot hold, and at most the workers that fit.
 */
function libraryPlan(
  grammarOf: (grammarSeed: number, depth: number) => Grammar,
  spec: GridSpec,
  options: Omit<CellOptions, 'onProgress'>,
  workers: number,
): { backendByDepth: ReadonlyMap<number, BpBackend>; workers: number } {
  const plan = planGridResources(
    (depth) => grammarOf(spec.grammarSeeds[0], depth),
    { grammars: spec.grammarSeeds.length, depths: spec.depths, processes: spec.processes.length, noises: spec.noises.length },
    { samples: options.samples, trajectories: options.trajectories, correlations: options.correlations ?? false, backend: options.backend ?? defaultBackend, workers, json: false },
  );
  return { backendByDepth: plan.backendByDepth, workers: plan.workers };
}

/** `grammarFor` memoised per (grammar seed, depth). */
function grammarCache(grammarFor: (grammarSeed: number, depth: number) => Grammar): (grammarSeed: number, depth: number) => Grammar {
  const cache = new Map<string, Grammar>();
  return (grammarSeed, depth) => {
    const key = `${grammarSeed}|${depth}`;
    let g = cache.get(key);
    if (!g) {
      g = grammarFor(grammarSeed, depth);
      cache.set(key, g);
    }
    return g;
  };
}

export interface GridParallelOptions {
  /**
   * Worker threads (default: the machine's available parallelism). The pool gets at most as many
   * workers as the largest cell has batches; with 1 (or cells of one batch) the grid runs on this
   * thread, as {@link runGrid}.
   */
  readonly workers?: number;
  /** A pool to reuse (its size wins over `workers`); it is left open. */
  readonly pool?: CellWorkerPool;
  /**
   * Backend of the cells of a depth, overriding `options.backend` there (e.g. the reference
   * backend where the fast kernels' memory would not fit, src/core/resources.ts).
   */
  readonly backendByDepth?: ReadonlyMap<number, BpBackend>;
}

/** `{ backend }` when a depth has its own backend, else nothing (the options' backend stays). */
function cellBackend(backendByDepth: ReadonlyMap<number, BpBackend> | undefined, depth: number): { backend?: BpBackend } {
  const b = backendByDepth?.get(depth);
  return b ? { backend: b } : {};
}

/**
 * {@link runGrid} with each cell's batches spread over worker threads: one {@link CellWorkerPool}
 * for the whole grid (started once, closed at the end), cells in canonical order. Every batch has
 * its own random streams and the observables are folded on this thread in batch order, so the
 * result is identical, bit for bit, to `runGrid` for any number of workers. The backend must be
 * one of the named ones (workers rebuild it by name). Starting a worker costs up to about a second.
 */
export async function runGridParallel(
  grammarFor: (grammarSeed: number, depth: number) => Grammar,
  spec: GridSpec,
  options: Omit<CellOptions, 'onProgress'>,
  parallel: GridParallelOptions = {},
  onProgress?: (p: GridProgress) => void,
): Promise<CellStats[]> {
  const cells = gridCells(spec);
  const grammarOf = grammarCache(grammarFor);
  // Grammars first: a bad grammar fails before any worker starts.
  const grammars = cells.map((c) => grammarOf(c.grammarSeed, c.depth));
  let pool = parallel.pool;
  let workers = checkOption(OPTIONS.workers, parallel.workers ?? availableParallelism());
  if (cells.length > 0 && !parallel.backendByDepth) {
    const plan = libraryPlan(grammarOf, spec, options, workers);
    parallel = { ...parallel, backendByDepth: plan.backendByDepth };
    workers = plan.workers;
  }
  if (!pool) {
    const maxBatches = Math.max(0, ...grammars.map((g) => cellBatches(g, options.samples).batches));
    const size = Math.min(workers, maxBatches);
    if (size <= 1) return runGrid(grammarOf, spec, options, onProgress, parallel.backendByDepth);
    pool = new CellWorkerPool(size);
  }
  const samplesTotal = cells.length * options.samples;
  const out: CellStats[] = [];
  try {
    for (let index = 0; index < cells.length; index++) {
      const before = index * options.samples;
      out.push(
        await pool.run(grammars[index], cells[index], {
          ...options,
          ...cellBackend(parallel.backendByDepth, cells[index].depth),
          onProgress: (done) => onProgress?.({ cellsDone: index, cellsTotal: cells.length, samplesDone: before + done, samplesTotal }),
        }),
      );
      onProgress?.({ cellsDone: index + 1, cellsTotal: cells.length, samplesDone: before + options.samples, samplesTotal });
    }
  } finally {
    if (pool !== parallel.pool) await pool.close();
  }
  return out;
}
