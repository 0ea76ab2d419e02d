import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { checkInt, ParamError } from '../core/errors.ts';
import type { CellStats } from '../experiment/cell.ts';
import { cellAccumulator, cellBatches, runBatch, type BatchOutcome, type CellOptions, type CellSpec } from '../experiment/forwardBackward.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { defaultBackend, resolveBackend } from './fast.ts';
import type { CellWorkerData, CellWorkerReply } from './cellWorkerTask.ts';

const WORKER_URL = new URL('./cellWorker.mjs', import.meta.url);

export interface ParallelCellOptions {
  /** Worker threads (default: the machine's available parallelism). 1 runs on this thread. */
  readonly workers?: number;
}

/**
 * {@link runCell} with the cell's batches spread over worker threads. Each batch has its own
 * random streams (runBatch depends only on the cell and the batch index) and the observables are
 * folded on this thread in batch order, so the result is identical, bit for bit, to `runCell`.
 * The backend must be one of the named ones (resolveBackend), since workers rebuild it by name.
 * At most two batches per worker are in flight, so memory stays bounded.
 */
export async function runCellParallel(grammar: Grammar, cell: CellSpec, options: CellOptions, parallel: ParallelCellOptions = {}): Promise<CellStats> {
  const workers = checkInt('workers', parallel.workers ?? availableParallelism(), 1, 1024);
  const backend = options.backend ?? defaultBackend;
  if (resolveBackend(backend.name) !== backend) throw new ParamError('backend', `invalid backend "${backend.name}" for workers (expected reference, fast or fast32)`);
  const acc = cellAccumulator(grammar, cell, options);
  const { batch, batches } = cellBatches(grammar, options.samples);
  const fold = (r: BatchOutcome, b: number) => {
    acc.add(r.truth, r.posterior, r.rootPosterior, null, r.marginalKept);
    options.onProgress?.(Math.min(options.samples, (b + 1) * batch));
  };
  const threads = Math.min(workers, batches);
  if (threads <= 1) {
    for (let b = 0; b < batches; b++) fold(runBatch(grammar, cell, options, b), b);
    return acc.stats;
  }
  const { backend: _b, onProgress: _p, ...plain } = options;
  const data: CellWorkerData = { grammar, cell, options: plain, backend: backend.name };
  const pool = Array.from({ length: threads }, () => new Worker(WORKER_URL, { workerData: data }));
  try {
    await new Promise<void>((resolve, reject) => {
      const ready = new Map<number, BatchOutcome>();
      let next = 0; // next batch to hand out
      let folded = 0; // next batch to fold
      let failed = false;
      const send = (w: Worker) => {
        // Hand out batches only within a window ahead of the fold, so buffered results stay bounded.
        if (next < batches && next < folded + 2 * threads) w.postMessage(next++);
      };
      const idle: Worker[] = [];
      for (const w of pool) {
        w.on('message', (reply: CellWorkerReply) => {
          if (failed) return;
          if ('error' in reply) {
            failed = true;
            const e = reply.error.param !== undefined ? new ParamError(reply.error.param, reply.error.message) : Object.assign(new Error(reply.error.message), { name: reply.error.name });
            reject(e);
            return;
          }
          ready.set(reply.b, reply.outcome);
          try {
            while (ready.has(folded)) {
              fold(ready.get(folded)!, folded);
              ready.delete(folded);
              folded++;
            }
          } catch (e) {
            failed = true;
            reject(e);
            return;
          }
          if (folded === batches) return resolve();
          idle.push(w);
          while (idle.length > 0 && next < batches && next < folded + 2 * threads) send(idle.shift()!);
        });
        w.on('error', (e) => {
          if (!failed) {
            failed = true;
            reject(e);
          }
        });
      }
      // Two batches per worker to start: one computing, one queued.
      for (let round = 0; round < 2; round++) for (const w of pool) send(w);
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return acc.stats;
}
