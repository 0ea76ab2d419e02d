import type { Grammar } from '../../grammar/grammar.ts';
import type { FloatArray, UpwardMessages } from '../types.ts';
import type { Precision, Ptr } from './kernels.ts';
import { chunksOf, commitPass, datumMajorRegions, openPass, toLaneLayout, writeDatumMajor, type Chunk, type Pass } from './plan.ts';

/** Ping-pong ν↓ buffers for the downward sweep of a chunk. */
export function allocDown(pass: Pass): [Ptr, Ptr] {
  const { arena, p } = pass;
  const R = p.T * p.size;
  const biggest = Math.max(...p.width.map((w, l) => w * p.symbols[l] * R));
  return [arena.alloc(biggest), arena.alloc(biggest)];
}

/**
 * What the downward sweep of a chunk yields per level ℓ ≥ 1: either Σ_i μ_ℓ(i, truth) added into
 * `kept[ℓ]` (T float64 lanes; `truth[ℓ]` the batch's clean symbols, datum-major), or μ_ℓ written
 * datum-major to `marginals[ℓ]`.
 */
export type DownwardTarget = { readonly truth: Ptr[]; readonly kept: Ptr[] } | { readonly marginals: Ptr[] };

/** Downward sweep of a chunk (docs/science.md §2) over its lane-layout upward messages. */
export function downwardChunk(pass: Pass, down: [Ptr, Ptr], chunk: Chunk, target: DownwardTarget): void {
  const { k, arena, p, c } = pass;
  const kept = 'kept' in target ? target : null;
  const muOut = 'marginals' in target ? target.marginals : null;
  let cur = down[0];
  let next = down[1];
  k.fill(cur, p.symbols[0], p.T, 1 / p.symbols[0]);
  for (let l = 0; l < p.L; l++) {
    k.downward(cur, c.up[l + 1], next, c.rules[l], c.off, p.width[l], p.symbols[l], p.m, p.v, p.s, p.T);
    if (kept) arena.f64(kept.kept[l + 1], p.T).fill(0);
    k.marginals(next, c.up[l + 1], p.width[l + 1], p.v, p.T, chunk.real, chunk.n0, kept ? kept.truth[l + 1] : 0, kept ? kept.kept[l + 1] : 0, muOut ? muOut[l + 1] : 0, c.zs);
    [cur, next] = [next, cur];
  }
}

/** Marginals at every level from datum-major upward messages (the BpBackend contract). */
export function fastMarginals(g: Grammar, precision: Precision, up: UpwardMessages): FloatArray[] {
  const { count, messages } = up;
  const pass = openPass(g, precision, count);
  const { arena, p } = pass;
  const src = datumMajorRegions(pass, count);
  const down = allocDown(pass);
  const mu = datumMajorRegions(pass, count);
  commitPass(pass);
  writeDatumMajor(pass, src, messages);
  for (const chunk of chunksOf(p, count)) {
    toLaneLayout(pass, src, chunk);
    downwardChunk(pass, down, chunk, { marginals: mu });
  }
  const out = mu.map((ptr, l) => arena.floats(precision, ptr, count * p.width[l] * p.symbols[l]).slice());
  // Root: uniform prior, so μ_0 = ν↑_0.
  out[0] = precision === 'f64' ? Float64Array.from(messages[0]) : Float32Array.from(messages[0]);
  return out;
}
