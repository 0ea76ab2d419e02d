import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { checkInt, errorFromWire, ParamError } from '../core/errors.ts';
import type { CellStats } from './cell.ts';
import { cellAccumulator, cellBatches, prepareCell, runCell, type BatchOutcome, type CellOptions, type CellSpec } from './forwardBackward.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { defaultBackend, resolveBackend } from '../bp/fast.ts';
import type { CellJob, CellWorkerReply, CellWorkerRequest } from './cellWorkerTask.ts';

/**
 * The worker entry. From source, a plain .mjs that registers tsx's loader in its thread and then
 * loads cellWorkerTask.ts; from a build (dist/, .js), cellWorkerTask.js itself.
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './cellWorker.mjs' : './cellWorkerTask.js', import.meta.url);

/** A cell for {@link CellWorkerPool.runCells}. */
export interface CellRun {
  readonly grammar: Grammar;
  readonly cell: CellSpec;
  readonly options: CellOptions;
}

/**
 * The one pool of worker threads for forward–backward cells: it spreads one cell's batches over
 * the workers (`run`, {@link runCellParallel}) or runs whole cells side by side (`runCells`, the
 * sweeps). Starting a worker costs about a second (it loads the TypeScript sources), so keep one
 * pool for many cells and `close()` it at the end. Calls run one at a time on a pool.
 */
export class CellWorkerPool {
  readonly size: number;
  private readonly workers: Worker[];
  private nextJob = 0;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(workers: number = availableParallelism()) {
    this.size = checkInt('workers', workers, 1, 1024);
    this.workers = Array.from({ length: this.size }, () => new Worker(WORKER_URL));
  }

  /** Runs one cell over the pool; identical to runCell (see runCellParallel). */
  run(grammar: Grammar, cell: CellSpec, options: CellOptions): Promise<CellStats> {
    return this.queue(() => this.runNow(grammar, cell, options));
  }

  /**
   * Runs whole cells, each on one worker, as many at once as the pool has workers, queued in the
   * order given, and calls `onDone` on this thread as each finishes, in completion order (which
   * varies from run to run; each cell's result is runCell's; the cells' `onProgress` is not
   * called). The first failure rejects, and `onDone` is not called after it.
   */
  runCells(runs: readonly CellRun[], onDone: (index: number, stats: CellStats) => void): Promise<void> {
    return this.queue(() => this.runCellsNow(runs, onDone));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private queue<T>(work: () => Promise<T>): Promise<T> {
    const result = this.busy.then(work);
    this.busy = result.catch(() => undefined);
    return result;
  }

  /** A cell as plain data for a worker; throws unless its backend is one workers can rebuild by name. */
  private jobOf(grammar: Grammar, cell: CellSpec, options: CellOptions): CellJob {
    const backend = options.backend ?? defaultBackend;
    if (resolveBackend(backend.name) !== backend) throw new ParamError('backend', `invalid backend "${backend.name}" for workers (expected reference, fast or fast32)`);
    const { backend: _b, onProgress: _p, ...plain } = options;
    return { job: this.nextJob++, grammar, cell, options: plain, backend: backend.name };
  }

  private async runCellsNow(runs: readonly CellRun[], onDone: (index: number, stats: CellStats) => void): Promise<void> {
    const jobs = runs.map((r) => this.jobOf(r.grammar, r.cell, r.options));
    if (jobs.length === 0) return;
    const index = new Map(jobs.map((j, i) => [j.job, i]));
    const listeners: [Worker, (r: CellWorkerReply) => void, (e: Error) => void][] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        let next = 0;
        let done = 0;
        let failed = false;
        const fail = (e: unknown) => {
          if (!failed) {
            failed = true;
            reject(e);
          }
        };
        const send = (w: Worker) => {
          if (next < jobs.length) w.postMessage({ kind: 'cell', job: jobs[next++] } satisfies CellWorkerRequest);
        };
        for (const w of this.workers) {
          const onMessage = (reply: CellWorkerReply) => {
            const i = index.get(reply.job);
            if (failed || i === undefined) return;
            if ('error' in reply) return fail(errorFromWire(reply.error));
            if (!('stats' in reply)) return;
            try {
              onDone(i, reply.stats);
            } catch (e) {
              return fail(e);
            }
            if (++done === jobs.length) return resolve();
            send(w);
          };
          const onError = (e: Error) => fail(e);
          w.on('message', onMessage);
          w.on('error', onError);
          listeners.push([w, onMessage, onError]);
          send(w);
        }
      });
    } finally {
      for (const [w, onMessage, onError] of listeners) {
        w.off('message', onMessage);
        w.off('error', onError);
      }
    }
  }

  private async runNow(grammar: Grammar, cell: CellSpec, options: CellOptions): Promise<CellStats> {
    const job = this.jobOf(grammar, cell, options);
    const acc = cellAccumulator(prepareCell(grammar, cell, options));
    const { batch, batches } = cellBatches(grammar, options.samples);
    const fold = (r: BatchOutcome, b: number) => {
      acc.add(r.truth, r.posterior, r.rootPosterior, r.marginalKept);
      options.onProgress?.(Math.min(options.samples, (b + 1) * batch));
    };
    const pool = this.workers.slice(0, Math.min(this.size, batches));
    for (const w of pool) w.postMessage({ kind: 'job', job } satisfies CellWorkerRequest);
    const listeners: [Worker, (r: CellWorkerReply) => void, (e: Error) => void][] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const ready = new Map<number, BatchOutcome>();
        const window = 2 * pool.length; // batches handed out ahead of the fold: bounds memory
        let next = 0;
        let folded = 0;
        let failed = false;
        const idle: Worker[] = [];
        const fail = (e: unknown) => {
          if (!failed) {
            failed = true;
            reject(e);
          }
        };
        const dispatch = () => {
          while (idle.length > 0 && next < batches && next < folded + window) idle.shift()!.postMessage({ kind: 'batch', job: job.job, b: next++ } satisfies CellWorkerRequest);
        };
        for (const w of pool) {
          const onMessage = (reply: CellWorkerReply) => {
            if (failed || reply.job !== job.job) return;
            if ('error' in reply) {
              return fail(errorFromWire(reply.error));
            }
            if (!('outcome' in reply)) return;
            ready.set(reply.b, reply.outcome);
            try {
              while (ready.has(folded)) {
                fold(ready.get(folded)!, folded);
                ready.delete(folded);
                folded++;
              }
            } catch (e) {
              return fail(e);
            }
            if (folded === batches) return resolve();
            idle.push(w);
            dispatch();
          };
          const onError = (e: Error) => fail(e);
          w.on('message', onMessage);
          w.on('error', onError);
          listeners.push([w, onMessage, onError]);
          // Two slots per worker: one batch computing, one queued.
          idle.push(w, w);
        }
        dispatch();
      });
    } finally {
      for (const [w, onMessage, onError] of listeners) {
        w.off('message', onMessage);
        w.off('error', onError);
        w.postMessage({ kind: 'end', job: job.job } satisfies CellWorkerRequest);
      }
    }
    return acc.stats;
  }
}

export interface ParallelCellOptions {
  /** Worker threads (default: the machine's available parallelism). 1 runs on this thread. */
  readonly workers?: number;
  /** A pool to reuse (its size wins over `workers`); it is left open. */
  readonly pool?: CellWorkerPool;
}

/**
 * {@link runCell} with the cell's batches spread over worker threads. Each batch has its own
 * random streams (runBatch depends only on the cell and the batch index) and the observables are
 * folded on this thread in batch order, so the result is identical, bit for bit, to `runCell`.
 * The backend must be one of the named ones (resolveBackend), since workers rebuild it by name.
 * At most two batches per worker are in flight, so memory stays bounded.
 */
export async function runCellParallel(grammar: Grammar, cell: CellSpec, options: CellOptions, parallel: ParallelCellOptions = {}): Promise<CellStats> {
  if (parallel.pool) return parallel.pool.run(grammar, cell, options);
  const workers = checkInt('workers', parallel.workers ?? availableParallelism(), 1, 1024);
  const { batches } = cellBatches(grammar, options.samples);
  if (Math.min(workers, batches) <= 1) return runCell(grammar, cell, options);
  const pool = new CellWorkerPool(Math.min(workers, batches));
  try {
    return await pool.run(grammar, cell, options);
  } finally {
    await pool.close();
  }
}
