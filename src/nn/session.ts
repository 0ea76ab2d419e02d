import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { checkInt } from '../core/errors.ts';

export type { InferenceSession } from 'onnxruntime-node';

/** All cores of this machine: the default thread count of training and inference. */
export function defaultThreads(): number {
  return availableParallelism();
}

/** Checks a thread count (ParamError 'threads': an integer 1 … 1024). */
export function checkThreads(threads: number): number {
  return checkInt('threads', threads, 1, 1024);
}

/**
 * An onnxruntime session on the CPU for a model in memory, with full graph optimisation and
 * `threads` intra-op threads (one inter-op thread: the graphs here are chains, and a fixed
 * partition of the work keeps results identical from run to run at a given thread count).
 */
export async function createCpuSession(model: Uint8Array, threads: number): Promise<InferenceSession> {
  checkThreads(threads);
  return ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  });
}

/** A float32 tensor for a session's feeds. */
export function floatTensor(data: Float32Array, dims: readonly number[]): InstanceType<typeof ort.Tensor> {
  return new ort.Tensor('float32', data, dims);
}
