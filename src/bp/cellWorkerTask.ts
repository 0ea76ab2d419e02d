import { parentPort, workerData } from 'node:worker_threads';
import { runBatch, type BatchOutcome, type CellOptions, type CellSpec } from '../experiment/forwardBackward.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { resolveBackend } from './fast.ts';

/** What runCellParallel sends a worker once; batch indices follow as plain numbers. */
export interface CellWorkerData {
  grammar: Grammar;
  cell: CellSpec;
  options: Omit<CellOptions, 'backend' | 'onProgress'>;
  backend: string;
}

/** A worker's answer for one batch (typed arrays are transferred, not copied). */
export type CellWorkerReply = { b: number; outcome: BatchOutcome } | { b: number; error: { name: string; message: string; param?: string } };

const data = workerData as CellWorkerData;
const options: CellOptions = { ...data.options, backend: resolveBackend(data.backend) };
const port = parentPort!;

function buffersOf(o: BatchOutcome): ArrayBuffer[] {
  const arrays = [...o.truth.levels, ...o.posterior.levels, o.rootPosterior, ...(o.marginalKept ? [o.marginalKept] : [])];
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

port.on('message', (b: number) => {
  try {
    const outcome = runBatch(data.grammar, data.cell, options, b);
    port.postMessage({ b, outcome } satisfies CellWorkerReply, buffersOf(outcome));
  } catch (e) {
    const err = e as Error & { param?: string };
    port.postMessage({ b, error: { name: err.name, message: err.message, param: err.param } } satisfies CellWorkerReply);
  }
});
