import { parentPort } from 'node:worker_threads';
import { errorToWire, type WireError } from '../core/errors.ts';
import type { CellStats } from './cell.ts';
import { prepareCell, runBatch, runCell, type BatchOutcome, type CellOptions, type CellSpec, type PreparedCell } from './forwardBackward.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { resolveBackend } from '../bp/fast.ts';

/** A cell as it crosses to a worker: plain data, the backend by name (workers rebuild it). */
export interface CellJob {
  job: number;
  grammar: Grammar;
  cell: CellSpec;
  options: Omit<CellOptions, 'backend' | 'onProgress'>;
  backend: string;
}

/**
 * `job` sets up a cell whose batches `{ job, b }` follow, until `end`; `cell` runs a whole cell on
 * this worker.
 */
export type CellWorkerRequest = { kind: 'job'; job: CellJob } | { kind: 'batch'; job: number; b: number } | { kind: 'end'; job: number } | { kind: 'cell'; job: CellJob };

/** A worker's answer: one batch (typed arrays are transferred, not copied), a whole cell, or an error. */
export type CellWorkerReply = { job: number; b: number; outcome: BatchOutcome } | { job: number; stats: CellStats } | { job: number; error: WireError };

const port = parentPort!;
/** The cells whose batches this worker runs, each prepared (its process built) once. */
const jobs = new Map<number, PreparedCell>();

function buffersOf(o: BatchOutcome): ArrayBuffer[] {
  const arrays = [...o.truth.levels, ...o.posterior.levels, o.rootPosterior, ...(o.marginalKept ? [o.marginalKept] : [])];
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

port.on('message', (m: CellWorkerRequest) => {
  if (m.kind === 'job') {
    try {
      jobs.set(m.job.job, prepareCell(m.job.grammar, m.job.cell, { ...m.job.options, backend: resolveBackend(m.job.backend) }));
    } catch (e) {
      port.postMessage({ job: m.job.job, error: errorToWire(e) } satisfies CellWorkerReply);
    }
    return;
  }
  if (m.kind === 'end') {
    jobs.delete(m.job);
    return;
  }
  if (m.kind === 'cell') {
    try {
      const stats = runCell(m.job.grammar, m.job.cell, { ...m.job.options, backend: resolveBackend(m.job.backend) });
      port.postMessage({ job: m.job.job, stats } satisfies CellWorkerReply);
    } catch (e) {
      port.postMessage({ job: m.job.job, error: errorToWire(e) } satisfies CellWorkerReply);
    }
    return;
  }
  try {
    const outcome = runBatch(jobs.get(m.job)!, m.b);
    port.postMessage({ job: m.job, b: m.b, outcome } satisfies CellWorkerReply, buffersOf(outcome));
  } catch (e) {
    port.postMessage({ job: m.job, error: errorToWire(e) } satisfies CellWorkerReply);
  }
});
