import type { Grammar } from '../../grammar/grammar.ts';
import { deficitLimit, logOfLinear, logUpwardDatum } from '../logDomain.ts';
import type { FloatArray, UpwardMessages } from '../types.ts';
import type { Precision, Ptr } from './kernels.ts';
import { chunksOf, commitPass, datumMajorRegions, openPass, zdefAt, type Chunk, type Pass } from './plan.ts';

/**
 * The upward sweep of one chunk (docs/science.md §2) around its lowest levels: `block(i0)` fills
 * the leaves of the subtree block starting at leaf i0 and sweeps the block's levels L−1 .. L−h;
 * the levels above are swept whole. Leaves `h` levels per block: a block's leaves are consumed
 * while still in cache. Writes the chunk's log-evidence into `logEvidence`.
 */
export function sweepUp(pass: Pass, chunk: Chunk, h: number, block: (i0: number, leavesPerBlock: number) => void, logEvidence: Float64Array): void {
  const { k, arena, p, c } = pass;
  arena.f64(c.zprod, p.T).fill(1);
  arena.i32(c.zexp, p.T).fill(0);
  arena.i32(c.zdef, (p.L + 1) * p.T).fill(0);
  const leavesPerBlock = p.s ** h;
  for (let i0 = 0; i0 < p.d; i0 += leavesPerBlock) block(i0, leavesPerBlock);
  for (let l = p.L - h - 1; l >= 0; l--) {
    k.upward(c.up[l + 1], c.up[l], c.rules[l], c.off, c.zs, 0, p.width[l], p.symbols[l], p.m, p.v, p.s, p.T, chunk.real, c.zprod, c.zexp, zdefAt(pass, l));
  }
  // log Z = log(mantissa product) + exponent·ln 2, minus log m per internal node (the kernels
  // skip the 1/m of docs/science.md §2, which cancels in the normalised messages) and log n_c (root prior).
  const zprod = arena.f64(c.zprod, p.T);
  const zexp = arena.i32(c.zexp, p.T);
  const constant = -((p.d - 1) / (p.s - 1)) * Math.log(p.m) - Math.log(pass.g.classes);
  for (let n = 0; n < chunk.real; n++) logEvidence[chunk.n0 + n] = Math.log(zprod[n]) + zexp[n] * Math.LN2 + constant;
}

/** {@link sweepUp} from the chunk's float64 likelihoods at `lam` (datum-major). */
export function upwardChunk(pass: Pass, chunk: Chunk, lam: Ptr, logEvidence: Float64Array): void {
  const { k, p, c } = pass;
  sweepUp(
    pass,
    chunk,
    p.blockHeight,
    (i0, leavesPerBlock) => {
      k.leaves(lam, c.up[p.L], p.d, i0, i0 + leavesPerBlock, p.v, p.T, chunk.real, c.zprod, c.zexp, zdefAt(pass, p.L));
      for (let l = p.L - 1, first = i0 / p.s, n = leavesPerBlock / p.s; l >= p.L - p.blockHeight; l--, first /= p.s, n /= p.s) {
        k.upward(c.up[l + 1], c.up[l], c.rules[l], c.off, c.zs, first, n, p.symbols[l], p.m, p.v, p.s, p.T, chunk.real, c.zprod, c.zexp, zdefAt(pass, l));
      }
    },
    logEvidence,
  );
}

/**
 * Lanes of the chunk whose linear pass cannot be trusted: the sum over levels of their largest
 * precision deficit passes `limit` (src/bp/logDomain.ts `deficitLimit`; a zero or non-finite
 * normaliser always does).
 */
export function flaggedLanes(pass: Pass, chunk: Chunk, limit: number): number[] {
  const { p } = pass;
  const z = pass.arena.i32(pass.c.zdef, (p.L + 1) * p.T);
  const out: number[] = [];
  for (let n = 0; n < chunk.real; n++) {
    let sum = 0;
    for (let l = 0; l <= p.L; l++) sum += z[l * p.T + n];
    if (sum > limit) out.push(n);
  }
  return out;
}

/**
 * Upward sweep with datum-major results (the BpBackend contract). The data the linear pass
 * cannot represent are redone in the log domain (float64) or by the float64 kernels (float32).
 */
export function fastUpward(g: Grammar, precision: Precision, lambda: FloatArray, count: number, logLambda?: Float64Array): UpwardMessages {
  const pass = openPass(g, precision, count);
  const { k, arena, p, c } = pass;
  const lam = arena.alloc(p.perChunk * p.d * p.v * 8);
  const out = datumMajorRegions(pass, count);
  commitPass(pass);
  const logEvidence = new Float64Array(count);
  const stride = p.d * p.v;
  const limit = deficitLimit(g, precision);
  const logDomain = new Map<number, Float64Array[]>();
  const redo32: number[] = [];
  for (const chunk of chunksOf(p, count)) {
    const { n0, real } = chunk;
    arena.f64(lam, real * stride).set(lambda.subarray(n0 * stride, (n0 + real) * stride));
    upwardChunk(pass, chunk, lam, logEvidence);
    for (let l = 0; l <= p.L; l++) k.toDatumMajor(c.up[l], out[l], p.width[l], p.symbols[l], p.T, real, n0);
    for (const lane of flaggedLanes(pass, chunk, limit)) {
      const n = n0 + lane;
      if (precision === 'f32') {
        redo32.push(n);
        continue;
      }
      const r = logLambda ? logUpwardDatum(g, logLambda, n * stride, n) : logUpwardDatum(g, logOfLinear(lambda, n * stride, (n + 1) * stride), 0, n);
      logEvidence[n] = r.logEvidence;
      for (let l = 0; l <= p.L; l++) {
        const size = p.width[l] * p.symbols[l];
        const dst = arena.floats(precision, out[l], count * size);
        for (let i = 0; i < size; i++) dst[n * size + i] = Math.exp(r.logMessages[l][i]);
      }
      logDomain.set(n, r.logMessages);
    }
  }
  const messages = out.map((ptr, l) => arena.floats(precision, ptr, count * p.width[l] * p.symbols[l]).slice());
  if (redo32.length > 0) {
    // Data the float32 pass lost, by the float64 kernels (after the copy: they reuse the memory).
    const gather = (a: ArrayLike<number>) => {
      const sub = new Float64Array(redo32.length * stride);
      redo32.forEach((n, j) => {
        for (let i = 0; i < stride; i++) sub[j * stride + i] = a[n * stride + i];
      });
      return sub;
    };
    const r = fastUpward(g, 'f64', gather(lambda), redo32.length, logLambda ? gather(logLambda) : undefined);
    redo32.forEach((n, j) => {
      logEvidence[n] = r.logEvidence[j];
      for (let l = 0; l <= p.L; l++) {
        const size = p.width[l] * p.symbols[l];
        messages[l].set(r.messages[l].subarray(j * size, (j + 1) * size), n * size);
      }
      // Its float32 messages cannot hold it either: marginals and draws use its float64 messages' logs.
      const sizes = p.width.map((w, l) => w * p.symbols[l]);
      logDomain.set(n, [...(r.logDomain?.get(j) ?? r.messages.map((m, l) => logOfLinear(m, j * sizes[l], (j + 1) * sizes[l])))]);
    });
  }
  return logDomain.size > 0 ? { count, messages, logEvidence, logDomain } : { count, messages, logEvidence };
}
