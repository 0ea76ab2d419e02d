import type { Rng } from '../../core/random.ts';
import type { TreeBatch } from '../../grammar/generate.ts';
import type { Grammar } from '../../grammar/grammar.ts';
import { resampleLogDomain } from '../logDomain.ts';
import type { UpwardMessages } from '../types.ts';
import type { Precision, Ptr } from './kernels.ts';
import { chunksOf, commitPass, datumMajorRegions, openPass, toLaneLayout, writeDatumMajor, type Chunk, type Pass, type Plan } from './plan.ts';
import type { TokenRegions } from './tokens.ts';

/** Number of uniforms one posterior sample of the whole batch consumes, and each level's start. */
export function uniformLayout(p: Plan, rows: number): { total: number; start: number[] } {
  const start = [0];
  let total = rows;
  for (let l = 0; l < p.L; l++) {
    start.push(total);
    total += rows * p.width[l];
  }
  // start[0] is the root region; start[l + 1] is the region of the nodes of level l.
  return { total, start };
}

/** Posterior sampling regions of a batch: the uniforms and the sampled levels (rows = count·K). */
export interface SampleRegions {
  u: Ptr;
  start: number[];
  total: number;
  levels: Ptr[];
  rows: number;
}

export function allocSample(pass: Pass, count: number, K: number): SampleRegions {
  const { arena, p } = pass;
  const rows = count * K;
  const { total, start } = uniformLayout(p, rows);
  return { u: arena.alloc(total * 8), start, total, levels: p.width.map((w) => arena.alloc(rows * w * 4)), rows };
}

/**
 * Draws the uniforms of the whole batch in the reference's order (roots of every trajectory, then
 * level by level, trajectory by trajectory, node by node), so a float64 fast path consumes the
 * random stream exactly like sampleReference and draws the same trees.
 */
export function drawUniforms(pass: Pass, sr: SampleRegions, rng: Rng): void {
  const u = pass.arena.f64(sr.u, sr.total);
  for (let i = 0; i < sr.total; i++) u[i] = rng.nextFloat();
}

/** Redraws the trees of the log-domain data from their log messages, with the batch's uniforms. */
export function resampleFromLogs(pass: Pass, sr: SampleRegions, levels: Int32Array[], logDomain: ReadonlyMap<number, readonly Float64Array[]>, K: number): void {
  const u = pass.arena.f64(sr.u, sr.total);
  const width = pass.p.width;
  resampleLogDomain(pass.g, logDomain, K, levels, (level, row, node) => u[level < 0 ? row : sr.start[level + 1] + row * width[level] + node]);
}

/**
 * Node-major scratch for one chunk's posterior sampling: the chunk's uniforms of one level and
 * the sampled symbols of a parent and a child level, [node][row of the chunk] (rows = real·K).
 * The batch arrays are datum-major, so a chunk's rows there are width·4 or width·8 bytes apart:
 * at large depth every lane of a node touched its own pages of uniforms, parents and children
 * (3·16 pages per node at L12, past the L1 TLB and the prefetchers' stream count). Copying a
 * level's rows in and out row by row keeps the sampler's accesses within a few pages.
 */
export interface SampleScratch {
  u: Ptr;
  a: Ptr;
  b: Ptr;
}

export function allocSampleScratch(pass: Pass, K: number): SampleScratch {
  const { arena, p } = pass;
  const rows = p.perChunk * K;
  return { u: arena.alloc(p.width[p.L - 1] * rows * 8), a: arena.alloc(p.width[p.L] * rows * 4), b: arena.alloc(p.width[p.L] * rows * 4) };
}

/** Optional parts of {@link sampleChunk}. */
export interface SampleVia {
  /** With s = 2: the last level reads the token arrays, not the leaves (and level L−2 the pair table, if any). */
  readonly tokens?: TokenRegions | null;
  /** Through node-major scratch (same draws, same uniforms; see SampleScratch). */
  readonly scratch?: SampleScratch | null;
}

/** K posterior samples per datum of a chunk, from its lane-layout upward messages. */
export function sampleChunk(pass: Pass, sr: SampleRegions, chunk: Chunk, K: number, via: SampleVia = {}): void {
  const { wasm: x, k, p, c } = pass;
  const { n0, real } = chunk;
  const t = via.tokens ?? null;
  const q = via.scratch ?? null;
  if (!q) {
    k.sampleRoot(c.up[0], p.symbols[0], sr.u, sr.levels[0], c.w, n0, real, K, p.T);
    for (let l = 0; l < p.L; l++) {
      const u = sr.u + sr.start[l + 1] * 8;
      const w = p.width[l];
      if (t && l === p.L - 1) k.sampleLeavesTokens(t.tokL, t.loL, t.hiL, c.rules[l], sr.levels[l], w, 1, sr.levels[l + 1], w * 2, 1, u, w, 1, c.w, n0, real, K, w, p.m, p.T);
      else k.sampleLevel(c.up[l + 1], c.rules[l], sr.levels[l], w, 1, sr.levels[l + 1], w * p.s, 1, u, w, 1, c.w, n0, real, K, w, p.v, p.m, p.s, p.T);
    }
    return;
  }
  const rows = real * K;
  const r0 = n0 * K;
  // Level 0 has one node: node-major and datum-major coincide.
  k.sampleRoot(c.up[0], p.symbols[0], sr.u, sr.levels[0], c.w, n0, real, K, p.T);
  x.transpose(sr.levels[0] + r0 * 4, q.a, rows, 1, 1, 1, 1, rows, 4);
  let par = q.a;
  let chi = q.b;
  for (let l = 0; l < p.L; l++) {
    const w = p.width[l];
    const wc = p.width[l + 1];
    x.transpose(sr.u + (sr.start[l + 1] + r0 * w) * 8, q.u, rows, w, w, 1, 1, rows, 8);
    if (t && l === p.L - 1) k.sampleLeavesTokens(t.tokL, t.loL, t.hiL, c.rules[l], par, 1, rows, chi, 1, rows, q.u, 1, rows, c.w, 0, real, K, w, p.m, p.T);
    else if (t?.pairs && l === p.L - 2) k.samplePairs(t.pairs, t.tokL, c.rules[l], par, 1, rows, chi, 1, rows, q.u, 1, rows, c.w, 0, real, K, w, p.symbols[l + 1], p.v, p.m, p.T);
    else k.sampleLevel(c.up[l + 1], c.rules[l], par, 1, rows, chi, 1, rows, q.u, 1, rows, c.w, 0, real, K, w, p.v, p.m, p.s, p.T);
    x.transpose(chi, sr.levels[l + 1] + r0 * wc * 4, rows, wc, 1, rows, wc, 1, 4);
    [par, chi] = [chi, par];
  }
}

/** The sampled trees, copied out of the kernels' memory. */
export function copyTrees(pass: Pass, sr: SampleRegions): TreeBatch {
  return { count: sr.rows, levels: sr.levels.map((ptr, l) => pass.arena.i32(ptr, sr.rows * pass.p.width[l]).slice()) };
}

/** Exact posterior samples from datum-major upward messages (the BpBackend contract). */
export function fastSample(g: Grammar, precision: Precision, up: UpwardMessages, rng: Rng, K: number): TreeBatch {
  const { count, messages, logDomain } = up;
  const pass = openPass(g, precision, count);
  const { p } = pass;
  const src = datumMajorRegions(pass, count);
  const sr = allocSample(pass, count, K);
  commitPass(pass);
  writeDatumMajor(pass, src, messages);
  drawUniforms(pass, sr, rng);
  for (const chunk of chunksOf(p, count)) {
    toLaneLayout(pass, src, chunk);
    sampleChunk(pass, sr, chunk, K);
  }
  const trees = copyTrees(pass, sr);
  if (logDomain) resampleFromLogs(pass, sr, trees.levels as Int32Array[], logDomain, K);
  return trees;
}
