import { checkInt, ParamError } from '../core/errors.ts';
import type { TreeBatch } from '../grammar/generate.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount, symbolsAt } from '../grammar/params.ts';
import type { BatchRequest, BatchResult, BpBackend, Marginals } from './types.ts';

/**
 * Validation of a {@link BatchRequest} at the public boundary (the fast kernels trust their inputs
 * and would read out of range): ParamError naming the field. The likelihoods the callbacks write
 * are checked as they arrive ({@link checkWrittenLikelihood}, {@link checkWrittenLogLikelihood}).
 */
export function checkBatchRequest(g: Grammar, req: BatchRequest): void {
  if (typeof req !== 'object' || req === null) throw new ParamError('request', 'invalid request (expected a BatchRequest object)');
  const count = checkInt('count', req.count, 1);
  if (typeof req.likelihood !== 'function') throw new ParamError('likelihood', 'invalid likelihood (expected a function (start, end, out) => void)');
  if (req.logLikelihood !== undefined && typeof req.logLikelihood !== 'function')
    throw new ParamError('logLikelihood', 'invalid logLikelihood (expected a function (start, end, out) => void, or undefined)');
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
    for (let i = 0; i < count * d; i++)
      if (!(te.tokens[i] >= 0 && te.tokens[i] < v)) throw new ParamError('tokenEvidence', `invalid tokenEvidence.tokens[${i}] ${te.tokens[i]} (expected a token in [0, ${v - 1}])`);
    for (const key of ['floor', 'hit'] as const) {
      const x = te[key];
      if (!(typeof x === 'number' && x >= 0 && x < Infinity)) throw new ParamError('tokenEvidence', `invalid tokenEvidence.${key} ${String(x)} (expected a finite number >= 0)`);
    }
  }
}

/** What a request's `likelihood` wrote for data from n0 (`stride` floats per datum): finite, non-negative, finite sums per leaf (ParamError). */
export function checkWrittenLikelihood(out: Float64Array, v: number, stride: number, n0: number): void {
  for (let i = 0; i < out.length; i += v) {
    let z = 0;
    for (let b = 0; b < v; b++) {
      const x = out[i + b];
      if (!(x >= 0 && x < Infinity)) throw new ParamError('likelihood', `invalid likelihood ${String(x)} written for datum ${n0 + Math.floor(i / stride)} (expected finite numbers >= 0)`);
      z += x;
    }
    if (z === Infinity) throw new ParamError('likelihood', 'invalid likelihood: the values of a leaf sum to Infinity');
  }
}

/** What a request's `logLikelihood` wrote for data from n0 (`stride` floats per datum): numbers < Infinity, or −Infinity (ParamError). */
export function checkWrittenLogLikelihood(out: Float64Array, stride: number, n0: number): void {
  for (let i = 0; i < out.length; i++) {
    if (!(out[i] < Infinity))
      throw new ParamError('logLikelihood', `invalid logLikelihood ${String(out[i])} written for datum ${n0 + Math.floor(i / stride)} (expected numbers < Infinity, or -Infinity)`);
  }
}

/**
 * The marginal level estimator per datum (docs/science.md §4): for datum n and level ℓ,
 * `(1/s^ℓ)·Σ_i μ_ℓ(i, z_ℓ,i)` at `[n·(L+1) + ℓ]`, from marginals at every level (layout of
 * {@link Marginals}) and the clean trees.
 */
export function levelMarginalKept(g: Grammar, truth: TreeBatch, marginals: Marginals): Float64Array {
  const L = g.depth;
  const out = new Float64Array(truth.count * (L + 1));
  for (let n = 0; n < truth.count; n++) {
    for (let level = 0; level <= L; level++) {
      const width = g.tuple ** level;
      const z = truth.levels[level];
      const N = symbolsAt(g, level);
      const mu = marginals[level];
      let sum = 0;
      for (let i = 0; i < width; i++) sum += mu[(n * width + i) * N + z[n * width + i]];
      out[n * (L + 1) + level] = sum / width;
    }
  }
  return out;
}

/**
 * {@link BpBackend.batch} by a backend's own sweeps: the whole batch's likelihoods, upward,
 * marginals when truth is given, and K posterior samples (the token evidence, the same evidence,
 * is not needed). The reference backend's batch, and the plain path the fused ones must equal.
 */
export function batchFromSweeps(b: Pick<BpBackend, 'upward' | 'marginals' | 'sample'>, g: Grammar, req: BatchRequest): BatchResult {
  checkBatchRequest(g, req);
  const stride = leafCount(g) * g.vocab;
  const lambda = new Float64Array(req.count * stride);
  req.likelihood(0, req.count, lambda);
  checkWrittenLikelihood(lambda, g.vocab, stride, 0);
  let logLambda: Float64Array | undefined;
  if (req.logLikelihood) {
    logLambda = new Float64Array(req.count * stride);
    req.logLikelihood(0, req.count, logLambda);
    checkWrittenLogLikelihood(logLambda, stride, 0);
  }
  const up = b.upward(g, lambda, req.count, logLambda);
  const marginals = req.truth ? b.marginals(g, up) : null;
  const posterior = b.sample(g, up, req.rng, req.trajectories);
  return {
    logEvidence: up.logEvidence,
    rootPosterior: up.messages[0],
    posterior,
    levelMarginalKept: marginals && req.truth ? levelMarginalKept(g, req.truth, marginals) : null,
  };
}
