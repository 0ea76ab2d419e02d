import { checkWrittenLogLikelihood, levelMarginalKept } from '../batch.ts';
import { logMarginalsDatum, logUpwardDatum } from '../logDomain.ts';
import type { BatchRequest } from '../types.ts';
import type { Ptr } from './kernels.ts';
import type { Pass } from './plan.ts';
import { resampleFromLogs, type SampleRegions } from './sample.ts';

/** Where a fused batch keeps its results while it runs (see src/bp/fast/fusedBatch.ts). */
export interface FusedOutputs {
  readonly logEvidence: Float64Array;
  /** Class posterior, count·n_c, datum-major, in the kernels' memory. */
  readonly rootOut: Ptr;
  readonly sample: SampleRegions;
  /** count·(L+1) marginal level estimator, when the request has truth. */
  readonly kept: Float64Array | null;
}

/** Leaf log-likelihoods of datum n for the log-domain redo: the request's own, or the log of its evidence. */
function logLikelihoodOf(pass: Pass, req: BatchRequest, n: number): Float64Array {
  const { d, v } = pass.p;
  const out = new Float64Array(d * v);
  if (req.logLikelihood) {
    req.logLikelihood(n, n + 1, out);
    checkWrittenLogLikelihood(out, d * v, n);
    return out;
  }
  const te = req.tokenEvidence;
  if (te) {
    out.fill(Math.log(te.floor));
    const logHit = Math.log(te.hit);
    for (let i = 0; i < d; i++) out[i * v + te.tokens[n * d + i]] = logHit;
    return out;
  }
  req.likelihood(n, n + 1, out);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(out[i]);
  return out;
}

/**
 * Redoes datum n of a float64 fused batch in the log domain (its linear pass could not be
 * trusted) and writes over its results: log-evidence, class posterior, the K posterior trees
 * (same uniforms) and the marginal level estimator.
 */
export function redoDatumInLogDomain(pass: Pass, req: BatchRequest, out: FusedOutputs, n: number): void {
  const { g, p, arena } = pass;
  const r = logUpwardDatum(g, logLikelihoodOf(pass, req, n), 0, n);
  const K = req.trajectories;
  out.logEvidence[n] = r.logEvidence;
  const nc = p.symbols[0];
  const root = arena.floats(pass.precision, out.rootOut, (n + 1) * nc);
  for (let a = 0; a < nc; a++) root[n * nc + a] = Math.exp(r.logMessages[0][a]);
  const sr = out.sample;
  const levels = sr.levels.map((ptr, l) => arena.i32(ptr, sr.rows * p.width[l]));
  resampleFromLogs(pass, sr, levels, new Map([[n, r.logMessages]]), K);
  if (out.kept && req.truth) {
    // μ_0 of the log domain is exp of its root message: the class posterior written above.
    const truth = { count: 1, levels: req.truth.levels.map((lv, l) => lv.subarray(n * p.width[l], (n + 1) * p.width[l])) };
    out.kept.set(levelMarginalKept(g, truth, logMarginalsDatum(g, r.logMessages)), n * (p.L + 1));
  }
}
