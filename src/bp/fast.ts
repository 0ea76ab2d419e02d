import { resolveVariant } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { TreeBatch } from '../grammar/generate.ts';
import { checkBatchRequest } from './batch.ts';
import { fastMarginals } from './fast/downward.ts';
import { fusedBatch } from './fast/fusedBatch.ts';
import type { Precision } from './fast/kernels.ts';
import { fastSample } from './fast/sample.ts';
import { fastUpward } from './fast/upward.ts';
import { overwriteLogDomainMarginals } from './logDomain.ts';
import { referenceBackend } from './reference.ts';
import {
  checkLogLambda,
  checkSampleInputs,
  checkUpwardInputs,
  checkUpwardMessages,
  type BatchRequest,
  type BatchResult,
  type BpBackend,
  type FloatArray,
  type Marginals,
  type UpwardMessages,
} from './types.ts';

function makeFastBackend(name: string, precision: Precision): BpBackend {
  return {
    name,
    upward(g: Grammar, lambda: FloatArray, count: number, logLambda?: Float64Array): UpwardMessages {
      checkUpwardInputs(g, lambda, count);
      checkLogLambda(lambda, logLambda);
      return fastUpward(g, precision, lambda, count, logLambda);
    },
    marginals(g: Grammar, up: UpwardMessages): Marginals {
      checkUpwardMessages(g, up);
      const mu = fastMarginals(g, precision, up);
      // Data of up.logDomain, and any lane a float32 pass lost (NaN), from the log domain.
      overwriteLogDomainMarginals(g, up, mu);
      return mu;
    },
    sample(g: Grammar, up: UpwardMessages, rng: Rng, trajectories: number): TreeBatch {
      checkSampleInputs(g, up, trajectories);
      return fastSample(g, precision, up, rng, trajectories);
    },
    // One pass per cache-sized chunk of data (src/bp/fast/fusedBatch.ts).
    batch(g: Grammar, request: BatchRequest): BatchResult {
      checkBatchRequest(g, request);
      return fusedBatch(g, precision, request);
    },
  };
}

/**
 * Fast exact BP in float64: AssemblyScript/WebAssembly SIMD kernels over chunks of data laid out
 * batch-innermost (src/bp/wasm/kernels.as). Agrees with the reference to float64 round-off and
 * consumes the random stream identically, so it draws the same posterior trees.
 */
export const fastBackend: BpBackend = makeFastBackend('fast', 'f64');

/**
 * The same kernels in float32 (twice the SIMD lanes, half the memory traffic). Messages and
 * marginals agree with float64 within test/tolerance.ts `float32Tolerance(depth)`; sampled trees
 * follow the float32 messages, so they may differ from the float64 draws where a uniform falls
 * within float32 round-off of a rule boundary. logEvidence is accumulated in float64.
 */
export const fast32Backend: BpBackend = makeFastBackend('fast32', 'f32');

/** Names of the BP implementations. */
export type BackendName = 'reference' | 'fast' | 'fast32';
export const BACKEND_NAMES: readonly BackendName[] = ['reference', 'fast', 'fast32'];

/** The default backend of the library: fast float64. */
export const defaultBackend: BpBackend = fastBackend;

/** The backend of a name, or a ParamError `invalid backend "x" (expected reference, fast or fast32)`. */
export function resolveBackend(name: string): BpBackend {
  switch (resolveVariant('backend', name, BACKEND_NAMES)) {
    case 'reference':
      return referenceBackend;
    case 'fast':
      return fastBackend;
    case 'fast32':
      return fast32Backend;
  }
}
