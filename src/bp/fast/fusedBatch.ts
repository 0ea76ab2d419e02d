import type { Grammar } from '../../grammar/grammar.ts';
import { checkWrittenLikelihood } from '../batch.ts';
import { deficitLimit } from '../logDomain.ts';
import type { BatchRequest, BatchResult } from '../types.ts';
import type { Precision, Ptr } from './kernels.ts';
import { allocDown, downwardChunk } from './downward.ts';
import { redoDatumInLogDomain, type FusedOutputs } from './logRedo.ts';
import { chunksOf, commitPass, openPass, type Chunk, type Pass } from './plan.ts';
import { allocSample, allocSampleScratch, copyTrees, drawUniforms, sampleChunk, uniformLayout } from './sample.ts';
import { allocTokens, loadTokens, tokenLayout, tokenTables, upwardChunkTokens } from './tokens.ts';
import { flaggedLanes, upwardChunk } from './upward.ts';

/**
 * The experiment's batch (`BpBackend.batch`, src/bp/types.ts) in one pass over cache-sized
 * chunks of data: evidence → upward → K posterior samples → (with truth) downward and the
 * marginal level estimator, without ever materialising a whole batch's messages. Random stream
 * use is identical to reference upward + sample (the marginals consume no randomness).
 * `presetUniforms`: the batch's uniforms, drawn already (a float32 batch's data redone in float64).
 */
export function fusedBatch(g: Grammar, precision: Precision, req: BatchRequest, presetUniforms?: Float64Array): BatchResult {
  const count = req.count;
  const K = req.trajectories;
  const te = req.tokenEvidence;
  const tables = te && g.depth >= 1 ? tokenTables(g.vocab, te.floor, te.hit) : null;
  // Token path: the leaf level is materialised only where needed (src/bp/fast/tokens.ts).
  const pass = openPass(g, precision, count, tables ? (p) => tokenLayout(p, !!req.truth) : undefined);
  const { k, arena, p, c } = pass;
  const tr = tables ? allocTokens(pass, count) : null;
  const lam = arena.alloc(tables ? 0 : p.perChunk * p.d * p.v * 8);
  const rootOut = arena.alloc(count * p.symbols[0] * p.size);
  const sr = allocSample(pass, count, K);
  const scratch = allocSampleScratch(pass, K);
  const down = req.truth ? allocDown(pass) : null;
  const truth = req.truth ? req.truth.levels.map((lv) => arena.alloc(lv.length * 4)) : null;
  const kept = req.truth ? p.width.map(() => arena.alloc(p.T * 8)) : null;
  commitPass(pass);
  if (req.truth && truth) req.truth.levels.forEach((lv, l) => arena.i32(truth[l], lv.length).set(lv));
  if (presetUniforms) arena.f64(sr.u, sr.total).set(presetUniforms);
  else drawUniforms(pass, sr, req.rng);
  if (tr && tables && te) loadTokens(pass, tr, te, tables, count);
  const out: FusedOutputs = { logEvidence: new Float64Array(count), rootOut, sample: sr, kept: req.truth ? new Float64Array(count * (p.L + 1)) : null };
  const limit = deficitLimit(g, precision);
  const redo32: number[] = [];
  for (const chunk of chunksOf(p, count)) {
    const { n0, real } = chunk;
    if (tr) upwardChunkTokens(pass, chunk, tr, out.logEvidence);
    else {
      const lambda = arena.f64(lam, real * p.d * p.v);
      req.likelihood(n0, n0 + real, lambda);
      checkWrittenLikelihood(lambda, p.v, p.d * p.v, n0);
      upwardChunk(pass, chunk, lam, out.logEvidence);
    }
    const flagged = flaggedLanes(pass, chunk, limit);
    k.toDatumMajor(c.up[0], rootOut, 1, p.symbols[0], p.T, real, n0);
    sampleChunk(pass, sr, chunk, K, { tokens: tr && p.s === 2 ? tr : null, scratch });
    if (down && truth && kept && out.kept && req.truth) {
      downwardChunk(pass, down, chunk, { truth, kept });
      keptOfChunk(pass, { rootOut, chunk, kept, classes: req.truth.levels[0] }, out.kept, flagged);
    }
    for (const n of flagged) {
      // float32 data go to the float64 kernels (below); float64 ones to the log domain.
      if (precision === 'f32') redo32.push(n0 + n);
      else redoDatumInLogDomain(pass, req, out, n0 + n);
    }
  }
  const result = {
    logEvidence: out.logEvidence,
    rootPosterior: arena.floats(precision, rootOut, count * p.symbols[0]).slice(),
    posterior: copyTrees(pass, sr),
    levelMarginalKept: out.kept,
  };
  if (redo32.length > 0) redoInFloat64(pass, req, arena.f64(sr.u, sr.total).slice(), sr.start, redo32, result);
  return result;
}

/**
 * The marginal level estimator of a chunk after its downward pass: level 0 from the class
 * posterior, level ℓ ≥ 1 from the kernels' sums Σ_i μ_ℓ(i, truth) in `kept[ℓ]`. A float32
 * downward pass can lose a lane the upward pass kept (NaN): such lanes join `flagged`, to be redone.
 */
function keptOfChunk(pass: Pass, from: { rootOut: Ptr; chunk: Chunk; kept: Ptr[]; classes: Int32Array }, keptOut: Float64Array, flagged: number[]): void {
  const { arena, p } = pass;
  const { n0, real } = from.chunk;
  const { kept, classes } = from;
  const root = arena.floats(pass.precision, from.rootOut, (n0 + real) * p.symbols[0]);
  for (let n = 0; n < real; n++) keptOut[(n0 + n) * (p.L + 1)] = root[(n0 + n) * p.symbols[0] + classes[n0 + n]];
  for (let l = 1; l <= p.L; l++) {
    const kl = arena.f64(kept[l], p.T);
    for (let n = 0; n < real; n++) keptOut[(n0 + n) * (p.L + 1) + l] = kl[n] / p.width[l];
  }
  for (let n = 0; n < real; n++) {
    if (flagged.includes(n)) continue;
    for (let l = 0; l <= p.L; l++) {
      if (!Number.isFinite(keptOut[(n0 + n) * (p.L + 1) + l])) {
        flagged.push(n);
        break;
      }
    }
  }
}

/**
 * The data a float32 pass lost (flagged by their deficits, or NaN marginals), redone by the
 * float64 kernels as one sub-batch with the same uniforms (so the same draws as float64 would
 * make), and written over the float32 results. The float64 pass sends its own flagged data to
 * the log domain. Runs after the float32 results are copied out: it reuses the kernels' memory.
 */
function redoInFloat64(pass: Pass, req: BatchRequest, u: Float64Array, start: number[], data: number[], out: BatchResult): void {
  const { g, p } = pass;
  const K = req.trajectories;
  const F = data.length;
  const stride = p.d * p.v;
  // The sub-batch's uniforms in its own layout: roots, then level by level, row by row.
  const sub = uniformLayout(p, F * K);
  const su = new Float64Array(sub.total);
  data.forEach((n, j) => {
    for (let t = 0; t < K; t++) {
      su[j * K + t] = u[n * K + t];
      for (let l = 0; l < p.L; l++) {
        const w = p.width[l];
        su.set(u.subarray(start[l + 1] + (n * K + t) * w, start[l + 1] + (n * K + t + 1) * w), sub.start[l + 1] + (j * K + t) * w);
      }
    }
  });
  const gather = (f: (start: number, end: number, out: Float64Array) => void) => (a: number, b: number, o: Float64Array) => {
    for (let j = a; j < b; j++) f(data[j], data[j] + 1, o.subarray((j - a) * stride, (j - a + 1) * stride));
  };
  const te = req.tokenEvidence;
  const subReq: BatchRequest = {
    count: F,
    likelihood: gather(req.likelihood),
    ...(req.logLikelihood ? { logLikelihood: gather(req.logLikelihood) } : {}),
    rng: req.rng,
    trajectories: K,
    truth: req.truth ? { count: F, levels: req.truth.levels.map((lv, l) => gatherRows(lv, p.width[l], data)) } : null,
    tokenEvidence: te ? { tokens: gatherRows(te.tokens, p.d, data), floor: te.floor, hit: te.hit } : null,
  };
  const r = fusedBatch(g, 'f64', subReq, su);
  const nc = p.symbols[0];
  data.forEach((n, j) => {
    out.logEvidence[n] = r.logEvidence[j];
    out.rootPosterior.set(r.rootPosterior.subarray(j * nc, (j + 1) * nc), n * nc);
    out.posterior.levels.forEach((lv, l) => {
      const w = p.width[l];
      (lv as Int32Array).set(r.posterior.levels[l].subarray(j * K * w, (j + 1) * K * w), n * K * w);
    });
    if (out.levelMarginalKept && r.levelMarginalKept) out.levelMarginalKept.set(r.levelMarginalKept.subarray(j * (p.L + 1), (j + 1) * (p.L + 1)), n * (p.L + 1));
  });
}

/** Rows `data` (each `width` long) of a datum-major array, in that order. */
function gatherRows(a: Int32Array, width: number, data: number[]): Int32Array {
  const out = new Int32Array(data.length * width);
  data.forEach((n, j) => out.set(a.subarray(n * width, (n + 1) * width), j * width));
  return out;
}
