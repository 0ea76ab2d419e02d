import { checkInt, ParamError, resolveVariant } from '../core/errors.ts';
import { symbolsAt } from '../grammar/params.ts';
import type { Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { TreeBatch } from '../grammar/generate.ts';
import { fastMarginals, fastSample, fastUpward, fusedBatch, type FusedRequest, type FusedResult, type Precision } from './fastEngine.ts';
import { overwriteLogDomainMarginals } from './logDomain.ts';
import { referenceBackend } from './reference.ts';
import { checkLogLambda, checkSampleInputs, checkUpwardInputs, checkUpwardMessages, type BpBackend, type FloatArray, type Marginals, type UpwardMessages } from './types.ts';

/**
 * A BP backend that can also run the experiment's whole batch in one fused pass (evidence →
 * upward → posterior samples → marginal level estimator) without materialising datum-major
 * messages. `runCell` uses `fusedBatch` when present; its results equal upward + marginals +
 * sample of the same backend (same random stream use).
 */
export interface FusedBpBackend extends BpBackend {
  fusedBatch(g: Grammar, request: FusedRequest): FusedResult;
}

function makeFastBackend(name: string, precision: Precision): FusedBpBackend {
  return {
    name,
    upward(g: Grammar, lambda: FloatArray, count: number, logLambda?: Float64Array): UpwardMessages {
      checkUpwardInputs(g, lambda, count);
      checkLogLambda(lambda, logLambda);
      return fastUpward(g, precision, lambda, count, logLambda);
    },
    marginals(g: Grammar, up: UpwardMessages): Marginals {
      checkUpwardMessages(g, up);
      const mu = fastMarginals(g, precision, up.messages, up.count);
      // Data of up.logDomain, and any lane a float32 pass lost (NaN), from the log domain.
      overwriteLogDomainMarginals(g, up, mu);
      return mu;
    },
    sample(g: Grammar, up: UpwardMessages, rng: Rng, trajectories: number): TreeBatch {
      checkSampleInputs(g, up, trajectories);
      return fastSample(g, precision, up.messages, up.count, rng, trajectories, up.logDomain);
    },
    fusedBatch(g: Grammar, request: FusedRequest): FusedResult {
      checkFusedRequest(g, request);
      return fusedBatch(g, precision, request);
    },
  };
}

/**
 * Validation of a {@link FusedRequest} at the public boundary (the kernels trust their inputs and
 * would read out of range): ParamError naming the field. The likelihoods the callback writes are
 * checked as they arrive (src/bp/fastEngine.ts).
 */
export function checkFusedRequest(g: Grammar, req: FusedRequest): void {
  if (typeof req !== 'object' || req === null) throw new ParamError('request', 'invalid request (expected a FusedRequest object)');
  const count = checkInt('count', req.count, 1);
  if (typeof req.likelihood !== 'function') throw new ParamError('likelihood', 'invalid likelihood (expected a function (start, end, out) => void)');
  if (req.logLikelihood !== undefined && typeof req.logLikelihood !== 'function') throw new ParamError('logLikelihood', 'invalid logLikelihood (expected a function (start, end, out) => void, or undefined)');
  if (typeof req.rng !== 'object' || req.rng === null || typeof req.rng.nextFloat !== 'function') throw new ParamError('rng', 'invalid rng (expected an Rng)');
  checkInt('trajectories', req.trajectories, 1);
  const { tuple: s, depth: L, vocab: v } = g;
  if (req.truth !== null && req.truth !== undefined) {
    const t = req.truth;
    if (typeof t !== 'object' || t.count !== count || !Array.isArray(t.levels) || t.levels.length !== L + 1) {
      throw new ParamError('truth', `invalid truth (expected a TreeBatch of ${count} trees with ${L + 1} levels, or null)`);
    }
    for (let l = 0; l <= L; l++) {
      const lv: unknown = t.levels[l];
      const n = symbolsAt(g, l);
      if (!(lv instanceof Int32Array) || lv.length !== count * s ** l) throw new ParamError('truth', `invalid truth.levels[${l}] (expected an Int32Array of ${count * s ** l} symbols)`);
      for (let i = 0; i < lv.length; i++) if (!(lv[i] >= 0 && lv[i] < n)) throw new ParamError('truth', `invalid truth.levels[${l}][${i}] ${lv[i]} (expected a symbol in [0, ${n - 1}])`);
    }
  }
  const te = req.tokenEvidence;
  if (te !== null && te !== undefined) {
    const d = s ** L;
    if (typeof te !== 'object' || !(te.tokens instanceof Int32Array) || te.tokens.length < count * d) {
      throw new ParamError('tokenEvidence', `invalid tokenEvidence.tokens (expected an Int32Array of at least count·tuple^depth = ${count * d} tokens)`);
    }
    for (let i = 0; i < count * d; i++) if (!(te.tokens[i] >= 0 && te.tokens[i] < v)) throw new ParamError('tokenEvidence', `invalid tokenEvidence.tokens[${i}] ${te.tokens[i]} (expected a token in [0, ${v - 1}])`);
    for (const key of ['floor', 'hit'] as const) {
      const x = te[key];
      if (!(typeof x === 'number' && x >= 0 && x < Infinity)) throw new ParamError('tokenEvidence', `invalid tokenEvidence.${key} ${String(x)} (expected a finite number >= 0)`);
    }
  }
}

/**
 * Fast exact BP in float64: AssemblyScript/WebAssembly SIMD kernels over chunks of data laid out
 * batch-innermost (src/bp/wasm/kernels.as). Agrees with the reference to float64 round-off and
 * consumes the random stream identically, so it draws the same posterior trees.
 */
export const fastBackend: FusedBpBackend = makeFastBackend('fast', 'f64');

/**
 * The same kernels in float32 (twice the SIMD lanes, half the memory traffic). Messages and
 * marginals agree with float64 within test/tolerance.ts `float32Tolerance(depth)`; sampled trees
 * follow the float32 messages, so they may differ from the float64 draws where a uniform falls
 * within float32 round-off of a rule boundary. logEvidence is accumulated in float64.
 */
export const fast32Backend: FusedBpBackend = makeFastBackend('fast32', 'f32');

/** Names of the BP implementations. */
export type BackendName = 'reference' | 'fast' | 'fast32';
export const BACKEND_NAMES: readonly BackendName[] = ['reference', 'fast', 'fast32'];

/** The default backend of the library: fast float64. */
export const defaultBackend: FusedBpBackend = fastBackend;

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

/** Whether a backend offers the fused experiment pass. */
export function hasFusedBatch(b: BpBackend): b is FusedBpBackend {
  return typeof (b as Partial<FusedBpBackend>).fusedBatch === 'function';
}
