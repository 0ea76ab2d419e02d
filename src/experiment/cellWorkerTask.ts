import { parentPort } from 'node:worker_threads';
import { errorToWire, type WireError } from '../core/errors.ts';
import { runBatch, type BatchOutcome, type CellOptions, type CellSpec } from './forwardBackward.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { resolveBackend } from '../bp/fast.ts';

/** One cell's setup, sent once per job; batch requests `{ job, b }` follow. */
export interface CellJob {
  job: number;
  grammar: Grammar;
  cell: CellSpec;
  options: Omit<CellOptions, 'backend' | 'onProgress'>;
  backend: string;
}

export type CellWorkerRequest = { kind: 'job'; job: CellJob } | { kind: 'batch'; job: number; b: number } | { kind: 'end'; job: number };

/** A worker's answer for one batch (typed arrays are transferred, not copied). */
export type CellWorkerReply = { job: number; b: number; outcome: BatchOutcome } | { job: number; b: number; error: WireError };

const port = parentPort!;
const jobs = new Map<number, { job: CellJob; options: CellOptions }>();

function buffersOf(o: BatchOutcome): ArrayBuffer[] {
  const arrays = [...o.truth.levels, ...o.posterior.levels, o.rootPosterior, ...(o.marginalKept ? [o.marginalKept] : [])];
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

port.on('message', (m: CellWorkerRequest) => {
  if (m.kind === 'job') {
    jobs.set(m.job.job, { job: m.job, options: { ...m.job.options, backend: resolveBackend(m.job.backend) } });
    return;
  }
  if (m.kind === 'end') {
    jobs.delete(m.job);
    return;
  }
  try {
    const j = jobs.get(m.job)!;
    const outcome = runBatch(j.job.grammar, j.job.cell, j.options, m.b);
    port.postMessage({ job: m.job, b: m.b, outcome } satisfies CellWorkerReply, buffersOf(outcome));
  } catch (e) {
    port.postMessage({ job: m.job, b: m.b, error: errorToWire(e) } satisfies CellWorkerReply);
  }
});
