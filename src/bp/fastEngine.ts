import type { Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { TreeBatch } from '../grammar/generate.ts';
import { symbolsAt } from '../grammar/params.ts';
import { ParamError } from '../core/errors.ts';
import { deficitLimit, logMarginalsDatum, logOfLinear, logUpwardDatum, resampleLogDomain, type LogUpward } from './logDomain.ts';
import type { FloatArray, UpwardMessages } from './types.ts';
import { KERNELS_WASM_BASE64 } from './wasm/kernelsBinary.ts';

/** Float precision of a fast path. */
export type Precision = 'f64' | 'f32';

type Ptr = number;

/** The few WebAssembly JS-API members used here (tsconfig's lib has no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WASM = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The exports of kernels.as (pointers are byte offsets into `memory`). */
interface KernelExports {
  memory: WasmMemory;
  heapBase(): Ptr;
  leaves64(lam: Ptr, dst: Ptr, d: number, i0: number, i1: number, v: number, T: number, real: number, zprod: Ptr, zexp: Ptr, zdef: Ptr): void;
  upward64(child: Ptr, parent: Ptr, rules: Ptr, off: Ptr, zs: Ptr, p0: number, width: number, N: number, m: number, v: number, s: number, T: number, real: number, zprod: Ptr, zexp: Ptr, zdef: Ptr): void;
  sampleRoot64(root: Ptr, N: number, u: Ptr, out: Ptr, w: Ptr, n0: number, real: number, K: number, T: number): void;
  sampleLevel64(below: Ptr, rules: Ptr, parents: Ptr, prs: number, pns: number, children: Ptr, crs: number, cns: number, u: Ptr, urs: number, uns: number, w: Ptr, n0: number, real: number, K: number, width: number, v: number, m: number, s: number, T: number): void;
  downward64(down: Ptr, below: Ptr, childDown: Ptr, rules: Ptr, off: Ptr, width: number, N: number, m: number, v: number, s: number, T: number): void;
  marginals64(childDown: Ptr, below: Ptr, nodes: number, v: number, T: number, real: number, n0: number, truth: Ptr, kept: Ptr, muOut: Ptr, zs: Ptr): void;
  toDatumMajor64(src: Ptr, dst: Ptr, nodes: number, N: number, T: number, real: number, n0: number): void;
  fromDatumMajor64(src: Ptr, dst: Ptr, nodes: number, N: number, T: number, real: number, n0: number): void;
  fill64(dst: Ptr, rows: number, T: number, value: number): void;
  tokenLeaves64(tok: Ptr, d: number, i0: number, i1: number, v: number, T: number, real: number, zt: Ptr, loT: Ptr, hiT: Ptr, tokL: Ptr, loL: Ptr, hiL: Ptr, dst: Ptr, zprod: Ptr, zexp: Ptr): void;
  sampleLeavesTokens64(tokL: Ptr, loL: Ptr, hiL: Ptr, rules: Ptr, parents: Ptr, prs: number, pns: number, children: Ptr, crs: number, cns: number, u: Ptr, urs: number, uns: number, w: Ptr, n0: number, real: number, K: number, width: number, m: number, T: number): void;
  pairTable64(loT: Ptr, hiT: Ptr, rules: Ptr, N: number, m: number, v: number, table: Ptr): void;
  samplePairs64(table: Ptr, tokL: Ptr, rules: Ptr, parents: Ptr, prs: number, pns: number, children: Ptr, crs: number, cns: number, u: Ptr, urs: number, uns: number, w: Ptr, n0: number, real: number, K: number, width: number, N: number, v: number, m: number, T: number): void;
  transpose(src: Ptr, dst: Ptr, rows: number, width: number, srs: number, sns: number, drs: number, dns: number, bytes: number): void;
}

/** Precision-specific kernel entry points (the exports with suffix 64 or 32). */
interface Kernels {
  leaves: KernelExports['leaves64'];
  upward: KernelExports['upward64'];
  sampleRoot: KernelExports['sampleRoot64'];
  sampleLevel: KernelExports['sampleLevel64'];
  downward: KernelExports['downward64'];
  marginals: KernelExports['marginals64'];
  toDatumMajor: KernelExports['toDatumMajor64'];
  fromDatumMajor: KernelExports['fromDatumMajor64'];
  fill: KernelExports['fill64'];
  tokenLeaves: KernelExports['tokenLeaves64'];
  sampleLeavesTokens: KernelExports['sampleLeavesTokens64'];
  pairTable: KernelExports['pairTable64'];
  samplePairs: KernelExports['samplePairs64'];
}

let compiled: object | null = null;
let instance: KernelExports | null = null;

function decodeBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** This thread's instance of the kernels (compiled once per thread from the embedded binary). */
function wasm(): KernelExports {
  if (!instance) {
    compiled ??= new WASM.Module(decodeBase64(KERNELS_WASM_BASE64));
    instance = new WASM.Instance(compiled, {
      env: {
        abort: () => {
          throw new Error('BP kernel aborted');
        },
      },
    }).exports as unknown as KernelExports;
  }
  return instance;
}

function kernelsFor(x: KernelExports, precision: Precision): Kernels {
  const sfx = precision === 'f64' ? '64' : '32';
  const pick = <K extends keyof Kernels>(name: K): Kernels[K] => (x as unknown as Record<string, Kernels[K]>)[`${name}${sfx}`];
  return {
    leaves: pick('leaves'),
    upward: pick('upward'),
    sampleRoot: pick('sampleRoot'),
    sampleLevel: pick('sampleLevel'),
    downward: pick('downward'),
    marginals: pick('marginals'),
    toDatumMajor: pick('toDatumMajor'),
    fromDatumMajor: pick('fromDatumMajor'),
    fill: pick('fill'),
    tokenLeaves: pick('tokenLeaves'),
    sampleLeavesTokens: pick('sampleLeavesTokens'),
    pairTable: pick('pairTable'),
    samplePairs: pick('samplePairs'),
  };
}

/**
 * Bump allocator over the kernels' memory for one call: plan every region, then `commit` grows
 * the memory once (growing detaches views, so views are made only after it). Everything is
 * released when the call returns (results are copied out), so calls never share state.
 */
class Arena {
  private top: number;
  constructor(private readonly x: KernelExports) {
    this.top = x.heapBase();
  }
  alloc(bytes: number): Ptr {
    const p = Math.ceil(this.top / 64) * 64;
    this.top = p + Math.max(bytes, 0);
    return p;
  }
  commit(): void {
    const need = this.top - this.x.memory.buffer.byteLength;
    if (need > 0) this.x.memory.grow(Math.ceil(need / 65536));
  }
  f64(p: Ptr, n: number): Float64Array {
    return new Float64Array(this.x.memory.buffer, p, n);
  }
  f32(p: Ptr, n: number): Float32Array {
    return new Float32Array(this.x.memory.buffer, p, n);
  }
  i32(p: Ptr, n: number): Int32Array {
    return new Int32Array(this.x.memory.buffer, p, n);
  }
  floats(precision: Precision, p: Ptr, n: number): FloatArray {
    return precision === 'f64' ? this.f64(p, n) : this.f32(p, n);
  }
}

/** Data per chunk (lanes): float64 rows of 16 lanes are two cache lines, float32 rows of 32 too. */
const LANES: Record<Precision, number> = { f64: 16, f32: 32 };
/** Bytes of lane-layout leaf messages per subtree block: the block's upward sweep stays in L2. */
const BLOCK_LEAF_BYTES = 1 << 18;
/** Largest level-(L−1) pair table (v²·v floats) used instead of storing level L−1. */
const PAIR_TABLE_BYTES = 1 << 20;
/** Pair tables already computed on this thread, per rules array of level L−1 (grammars are immutable). */
const pairTableCache = new WeakMap<object, Map<string, Uint8Array>>();

/**
 * Geometry of a grammar for the kernels: symbols and nodes per level, the chunk size (lanes per
 * pass: a multiple of 4, so rows are whole SIMD vectors in both precisions) and the height of the
 * subtree blocks the lowest levels are swept in.
 */
interface Plan {
  readonly L: number;
  readonly v: number;
  readonly m: number;
  readonly s: number;
  readonly d: number;
  readonly size: number;
  readonly symbols: number[];
  readonly width: number[];
  /** lanes per chunk (padded) and data per chunk (≤ lanes). */
  readonly T: number;
  readonly perChunk: number;
  /** levels L−1 .. L−blockHeight are swept subtree block by block (s^blockHeight leaves each). */
  readonly blockHeight: number;
}

function plan(g: Grammar, precision: Precision, count: number): Plan {
  const { vocab: v, synonyms: m, tuple: s, depth: L } = g;
  const size = precision === 'f64' ? 8 : 4;
  const d = s ** L;
  const symbols = Array.from({ length: L + 1 }, (_, l) => symbolsAt(g, l));
  const width = Array.from({ length: L + 1 }, (_, l) => s ** l);
  const perChunk = Math.min(count, LANES[precision]);
  const T = Math.ceil(perChunk / 4) * 4;
  let blockHeight = 0;
  while (blockHeight < L && s ** (blockHeight + 1) * v * T * size <= BLOCK_LEAF_BYTES) blockHeight++;
  return { L, v, m, s, d, size, symbols, width, T, perChunk, blockHeight };
}

/** Per-chunk working regions: the lane-layout messages of every level and scratch. */
interface ChunkRegions {
  up: Ptr[];
  rules: Ptr[];
  off: Ptr;
  zs: Ptr;
  zprod: Ptr;
  zexp: Ptr;
  /** Per level ℓ, T i32 at zdef + ℓ·T·4: each lane's largest precision deficit of the level's normalisers. */
  zdef: Ptr;
  w: Ptr;
}

function allocChunk(arena: Arena, p: Plan, g: Grammar, leafLevel = true, pairs = false): ChunkRegions {
  const R = p.T * p.size;
  // Without the leaf level (token evidence, no downward pass): one subtree block's leaves; with
  // `pairs`, level L−1 too is one block's (its ν↑ is sampled from the pair table).
  const blockNodes = (l: number): number => p.s ** (Math.max(1, p.blockHeight) - (p.L - l));
  const up = p.width.map((w, l) => arena.alloc((l < p.L - 1 || (l === p.L - 1 && !pairs) || (l === p.L && leafLevel) ? w : blockNodes(l)) * p.symbols[l] * R));
  const rules = g.rules.map((r) => arena.alloc(r.length * 4));
  const maxRules = Math.max(...g.rules.map((r) => r.length));
  return {
    up,
    rules,
    off: arena.alloc(maxRules * 4),
    zs: arena.alloc(R),
    zprod: arena.alloc(p.T * 8),
    zexp: arena.alloc(p.T * 4),
    zdef: arena.alloc((p.L + 1) * p.T * 4),
    w: arena.alloc(Math.max(p.m, ...p.symbols) * 8),
  };
}

function writeRules(arena: Arena, c: ChunkRegions, g: Grammar): void {
  g.rules.forEach((r, l) => arena.i32(c.rules[l], r.length).set(r));
}

/** The zdef row of level ℓ. */
function zdefAt(p: Plan, c: ChunkRegions, level: number): Ptr {
  return c.zdef + level * p.T * 4;
}

/**
 * Lanes of the chunk whose linear pass cannot be trusted: the sum over levels of their largest
 * precision deficit passes {@link deficitLimit} (a zero or non-finite normaliser always does).
 */
function flaggedLanes(arena: Arena, p: Plan, c: ChunkRegions, real: number, limit: number): number[] {
  const z = arena.i32(c.zdef, (p.L + 1) * p.T);
  const out: number[] = [];
  for (let n = 0; n < real; n++) {
    let sum = 0;
    for (let l = 0; l <= p.L; l++) sum += z[l * p.T + n];
    if (sum > limit) out.push(n);
  }
  return out;
}

/**
 * Upward sweep of one chunk (docs/science.md §2): leaves from `lam` (chunk's f64 likelihoods, datum-major)
 * and every level above; returns the chunk's log-evidence contributions in `logEvidence`.
 */
function upwardChunk(k: Kernels, arena: Arena, p: Plan, c: ChunkRegions, lam: Ptr, n0: number, real: number, g: Grammar, logEvidence: Float64Array): void {
  arena.f64(c.zprod, p.T).fill(1);
  arena.i32(c.zexp, p.T).fill(0);
  arena.i32(c.zdef, (p.L + 1) * p.T).fill(0);
  // Lowest levels subtree block by block: a block's leaves are consumed while still in cache.
  const h = p.blockHeight;
  const leavesPerBlock = p.s ** h;
  for (let i0 = 0; i0 < p.d; i0 += leavesPerBlock) {
    k.leaves(lam, c.up[p.L], p.d, i0, i0 + leavesPerBlock, p.v, p.T, real, c.zprod, c.zexp, zdefAt(p, c, p.L));
    for (let l = p.L - 1, first = i0 / p.s, n = leavesPerBlock / p.s; l >= p.L - h; l--, first /= p.s, n /= p.s) {
      k.upward(c.up[l + 1], c.up[l], c.rules[l], c.off, c.zs, first, n, p.symbols[l], p.m, p.v, p.s, p.T, real, c.zprod, c.zexp, zdefAt(p, c, l));
    }
  }
  for (let l = p.L - h - 1; l >= 0; l--) {
    k.upward(c.up[l + 1], c.up[l], c.rules[l], c.off, c.zs, 0, p.width[l], p.symbols[l], p.m, p.v, p.s, p.T, real, c.zprod, c.zexp, zdefAt(p, c, l));
  }
  finishEvidence(arena, p, c, n0, real, g, logEvidence);
}

function finishEvidence(arena: Arena, p: Plan, c: ChunkRegions, n0: number, real: number, g: Grammar, logEvidence: Float64Array): void {
  // log Z = log(mantissa product) + exponent·ln 2, minus log m per internal node (the kernels
  // skip the 1/m of docs/science.md §2, which cancels in the normalised messages) and log n_c (root prior).
  const zprod = arena.f64(c.zprod, p.T);
  const zexp = arena.i32(c.zexp, p.T);
  const constant = -((p.d - 1) / (p.s - 1)) * Math.log(p.m) - Math.log(g.classes);
  for (let n = 0; n < real; n++) logEvidence[n0 + n] = Math.log(zprod[n]) + zexp[n] * Math.LN2 + constant;
}

/**
 * Token evidence of a chunk (ε and uniform processes): the per-token-value tables and the
 * lane-layout arrays of {@link upwardChunkTokens}. Unless a downward pass needs them (or s ≠ 2),
 * leaf messages live only one subtree block at a time, in cache.
 */
interface TokenRegions {
  /** whether c.up[L] holds the whole leaf level (else one block, reused). */
  fullLeaves: boolean;
  /**
   * Pair table of level L−1 (pairTable kernel), or 0: then c.up[L−1] holds one block's nodes and
   * posterior sampling of level L−2 reads the table by the two leaf tokens of each child.
   */
  pairs: Ptr;
  tok: Ptr;
  zt: Ptr;
  lo: Ptr;
  hi: Ptr;
  tokL: Ptr;
  loL: Ptr;
  hiL: Ptr;
}

/** What λ the evidence gives, per observed token value (docs/science.md §3: floor everywhere, hit on it). */
export interface TokenEvidence {
  /** Observed tokens of the whole batch, count·d, datum-major, each in [0, v). */
  readonly tokens: Int32Array;
  /** λ(b) for b ≠ the observed token, and for b = it (before normalisation). */
  readonly floor: number;
  readonly hit: number;
}

/**
 * The normalised leaf values per observed token value x, computed exactly as the `leaves` kernel
 * would from λ (z = Σ_b λ(b) in order, then λ·(1/z)); null when some z is not positive and finite
 * (the generic path then reports the inconsistency).
 */
function tokenTables(v: number, floor: number, hit: number): { z: Float64Array; lo: Float64Array; hi: Float64Array } | null {
  const z = new Float64Array(v);
  const lo = new Float64Array(v);
  const hi = new Float64Array(v);
  for (let x = 0; x < v; x++) {
    let sum = 0;
    for (let b = 0; b < v; b++) sum += b === x ? hit : floor;
    if (!(sum > 0) || !Number.isFinite(sum)) return null;
    const inv = 1 / sum;
    z[x] = sum;
    lo[x] = floor * inv;
    hi[x] = hit * inv;
  }
  return { z, lo, hi };
}

function allocTokens(arena: Arena, p: Plan, count: number, fullLeaves: boolean, pairs: boolean): TokenRegions {
  const lane = p.d * p.T * p.size;
  return {
    fullLeaves,
    pairs: pairs ? arena.alloc(p.v * p.v * p.symbols[p.L - 1] * p.size) : 0,
    tok: arena.alloc(count * p.d * 4),
    zt: arena.alloc(p.v * 8),
    lo: arena.alloc(p.v * 8),
    hi: arena.alloc(p.v * 8),
    tokL: arena.alloc(lane),
    loL: arena.alloc(lane),
    hiL: arena.alloc(lane),
  };
}

/**
 * {@link upwardChunk} from token evidence: per subtree block, the block's token arrays and z
 * (same order as the leaves kernel), the leaves' parents straight from them, then the block's
 * other levels. Bit-identical messages and log-evidence, without the leaf level.
 */
function upwardChunkTokens(k: Kernels, arena: Arena, p: Plan, c: ChunkRegions, t: TokenRegions, n0: number, real: number, g: Grammar, logEvidence: Float64Array): void {
  arena.f64(c.zprod, p.T).fill(1);
  arena.i32(c.zexp, p.T).fill(0);
  arena.i32(c.zdef, (p.L + 1) * p.T).fill(0);
  const h = Math.max(1, p.blockHeight);
  const leavesPerBlock = p.s ** h;
  const tok = t.tok + n0 * p.d * 4;
  for (let i0 = 0; i0 < p.d; i0 += leavesPerBlock) {
    // Leaf i of the block lives at leaves + i·v·R: the level's base, or the block scratch shifted
    // back by i0 leaves (addresses wrap modulo 2^32, as the kernels' pointer arithmetic does).
    const leaves = t.fullLeaves ? c.up[p.L] : (c.up[p.L] - i0 * p.v * p.T * p.size) >>> 0;
    k.tokenLeaves(tok, p.d, i0, i0 + leavesPerBlock, p.v, p.T, real, t.zt, t.lo, t.hi, t.tokL, t.loL, t.hiL, leaves, c.zprod, c.zexp);
    // With the pair table, level L−1 lives in a block scratch shifted back like the leaves.
    const low = t.pairs ? (c.up[p.L - 1] - (i0 / p.s) * p.symbols[p.L - 1] * p.T * p.size) >>> 0 : c.up[p.L - 1];
    for (let l = p.L - 1, first = i0 / p.s, n = leavesPerBlock / p.s; l >= p.L - h; l--, first /= p.s, n /= p.s) {
      const child = l === p.L - 1 ? leaves : l === p.L - 2 ? low : c.up[l + 1];
      const parent = l === p.L - 1 ? low : c.up[l];
      k.upward(child, parent, c.rules[l], c.off, c.zs, first, n, p.symbols[l], p.m, p.v, p.s, p.T, real, c.zprod, c.zexp, zdefAt(p, c, l));
    }
  }
  for (let l = p.L - h - 1; l >= 0; l--) {
    k.upward(c.up[l + 1], c.up[l], c.rules[l], c.off, c.zs, 0, p.width[l], p.symbols[l], p.m, p.v, p.s, p.T, real, c.zprod, c.zexp, zdefAt(p, c, l));
  }
  finishEvidence(arena, p, c, n0, real, g, logEvidence);
}

/** Number of uniforms one posterior sample of the whole batch consumes, and each level's start. */
function uniformLayout(p: Plan, rows: number): { total: number; start: number[] } {
  const start = [0];
  let total = rows;
  for (let l = 0; l < p.L; l++) {
    start.push(total);
    total += rows * p.width[l];
  }
  // start[0] is the root region; start[l + 1] is the region of the nodes of level l.
  return { total, start };
}

/** Posterior sampling regions of a batch: the uniforms and the sampled levels. */
interface SampleRegions {
  u: Ptr;
  start: number[];
  levels: Ptr[];
  rows: number;
}

function allocSample(arena: Arena, p: Plan, count: number, K: number): SampleRegions & { total: number } {
  const rows = count * K;
  const { total, start } = uniformLayout(p, rows);
  return { u: arena.alloc(total * 8), start, total, levels: p.width.map((w) => arena.alloc(rows * w * 4)), rows };
}

/**
 * Draws the uniforms of the whole batch in the reference's order (roots of every trajectory, then
 * level by level, trajectory by trajectory, node by node), so a float64 fast path consumes the
 * random stream exactly like sampleReference and draws the same trees.
 */
function drawUniforms(arena: Arena, sr: SampleRegions & { total: number }, rng: Rng): void {
  const u = arena.f64(sr.u, sr.total);
  for (let i = 0; i < sr.total; i++) u[i] = rng.nextFloat();
}

/**
 * Node-major scratch for one chunk's posterior sampling: the chunk's uniforms of one level and
 * the sampled symbols of a parent and a child level, [node][row of the chunk] (rows = real·K).
 * The batch arrays are datum-major, so a chunk's rows there are width·4 or width·8 bytes apart:
 * at large depth every lane of a node touched its own pages of uniforms, parents and children
 * (3·16 pages per node at L12, past the L1 TLB and the prefetchers' stream count). Copying a
 * level's rows in and out row by row keeps the sampler's accesses within a few pages.
 */
interface SampleScratch {
  u: Ptr;
  a: Ptr;
  b: Ptr;
}

function allocSampleScratch(arena: Arena, p: Plan, K: number): SampleScratch {
  const rows = p.perChunk * K;
  return { u: arena.alloc(p.width[p.L - 1] * rows * 8), a: arena.alloc(p.width[p.L] * rows * 4), b: arena.alloc(p.width[p.L] * rows * 4) };
}

/**
 * Posterior samples of a chunk; with `t` (s = 2), the last level reads the token arrays, not the
 * leaves. With `q`, through node-major scratch (same draws, same uniforms; see SampleScratch).
 */
function sampleChunk(x: KernelExports, k: Kernels, p: Plan, c: ChunkRegions, sr: SampleRegions, n0: number, real: number, K: number, t: TokenRegions | null = null, q: SampleScratch | null = null): void {
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
    else if (t && t.pairs && l === p.L - 2) k.samplePairs(t.pairs, t.tokL, c.rules[l], par, 1, rows, chi, 1, rows, q.u, 1, rows, c.w, 0, real, K, w, p.symbols[l + 1], p.v, p.m, p.T);
    else k.sampleLevel(c.up[l + 1], c.rules[l], par, 1, rows, chi, 1, rows, q.u, 1, rows, c.w, 0, real, K, w, p.v, p.m, p.s, p.T);
    x.transpose(chi, sr.levels[l + 1] + r0 * wc * 4, rows, wc, 1, rows, wc, 1, 4);
    [par, chi] = [chi, par];
  }
}

function copyTrees(arena: Arena, p: Plan, sr: SampleRegions): TreeBatch {
  return { count: sr.rows, levels: sr.levels.map((ptr, l) => arena.i32(ptr, sr.rows * p.width[l]).slice()) };
}

/** Ping-pong ν↓ buffers for the downward sweep of a chunk. */
function allocDown(arena: Arena, p: Plan): [Ptr, Ptr] {
  const R = p.T * p.size;
  const biggest = Math.max(...p.width.map((w, l) => w * p.symbols[l] * R));
  return [arena.alloc(biggest), arena.alloc(biggest)];
}

/**
 * Downward sweep of a chunk (docs/science.md §2). For each level ℓ ≥ 1 either adds μ_ℓ(i, truth) over nodes
 * into `kept` rows (f64 per lane; `truth` pointers per level) or writes μ_ℓ datum-major to `muOut`.
 */
function downwardChunk(k: Kernels, arena: Arena, p: Plan, c: ChunkRegions, down: [Ptr, Ptr], n0: number, real: number, truth: Ptr[] | null, kept: Ptr[] | null, muOut: Ptr[] | null): void {
  let cur = down[0];
  let next = down[1];
  k.fill(cur, p.symbols[0], p.T, 1 / p.symbols[0]);
  for (let l = 0; l < p.L; l++) {
    k.downward(cur, c.up[l + 1], next, c.rules[l], c.off, p.width[l], p.symbols[l], p.m, p.v, p.s, p.T);
    if (kept) arena.f64(kept[l + 1], p.T).fill(0);
    k.marginals(next, c.up[l + 1], p.width[l + 1], p.v, p.T, real, n0, truth ? truth[l + 1] : 0, kept ? kept[l + 1] : 0, muOut ? muOut[l + 1] : 0, c.zs);
    [cur, next] = [next, cur];
  }
}

/** What {@link fusedBatch} needs from the caller. */
export interface FusedRequest {
  readonly count: number;
  /** Writes the leaf likelihoods of data [start, end) (token-major, (end−start)·d·v floats) into `out`. */
  likelihood(start: number, end: number, out: Float64Array): void;
  /**
   * Optional: the same likelihoods in the log domain (exact, never underflowing), for the data the
   * linear pass cannot represent (src/bp/logDomain.ts). Without it, log of `likelihood` (or of the
   * token evidence) is used.
   */
  logLikelihood?(start: number, end: number, out: Float64Array): void;
  readonly rng: Rng;
  readonly trajectories: number;
  /** Clean trees: when given, the marginal level estimator is computed against them. */
  readonly truth: TreeBatch | null;
  /**
   * Optional: the same evidence as token values (ε and uniform processes). When given,
   * `likelihood` is not called and the leaf messages are built from the tokens inside the
   * kernels, block by block; the results are bit-identical.
   */
  readonly tokenEvidence?: TokenEvidence | null;
}

/** Result of {@link fusedBatch}. */
export interface FusedResult {
  readonly logEvidence: Float64Array;
  /** Class posterior μ_0 = ν↑_0, count·n_c, datum-major. */
  readonly rootPosterior: FloatArray;
  /** K posterior trees per datum (trajectory t of datum n is row n·K + t). */
  readonly posterior: TreeBatch;
  /**
   * If truth was given: count·(L+1), datum-major, the mean over the nodes of level ℓ of the
   * posterior marginal of the true symbol, (1/s^ℓ)·Σ_i μ_ℓ(i, z_ℓ,i) (docs/science.md §4, marginal estimator).
   */
  readonly levelMarginalKept: Float64Array | null;
}

/**
 * The experiment's batch in one pass over cache-sized chunks of data: evidence → upward → K
 * posterior samples → (optional) downward and the marginal level estimator, without ever
 * materialising a whole batch's messages. Random stream use is identical to reference
 * upward + sample (the marginals consume no randomness).
 */
export function fusedBatch(g: Grammar, precision: Precision, req: FusedRequest, presetUniforms?: Float64Array): FusedResult {
  const x = wasm();
  const k = kernelsFor(x, precision);
  const count = req.count;
  const K = req.trajectories;
  const p = plan(g, precision, count);
  const te = req.tokenEvidence;
  const tables = te && p.L >= 1 ? tokenTables(p.v, te.floor, te.hit) : null;
  const arena = new Arena(x);
  // Token path: the leaf level is materialised only for the downward pass (marginals).
  // The whole leaf level is needed by the downward pass, and by sampling unless s = 2.
  const fullLeaves = !tables || !!req.truth || p.s !== 2;
  // Level L−1 from the pair table when it is small (v²·v floats) and level L−2 is still swept
  // block by block (so level L−1 is only ever needed one block at a time).
  const pairs = !fullLeaves && p.L >= 2 && p.blockHeight >= 2 && p.v * p.v * p.symbols[p.L - 1] * p.size <= PAIR_TABLE_BYTES;
  const c = allocChunk(arena, p, g, fullLeaves, pairs);
  const tr = tables ? allocTokens(arena, p, count, fullLeaves, pairs) : null;
  const lam = arena.alloc(tables ? 0 : p.perChunk * p.d * p.v * 8);
  const rootOut = arena.alloc(count * p.symbols[0] * p.size);
  const sr = allocSample(arena, p, count, K);
  const q = allocSampleScratch(arena, p, K);
  const down = req.truth ? allocDown(arena, p) : null;
  const truth = req.truth ? req.truth.levels.map((lv) => arena.alloc(lv.length * 4)) : null;
  const kept = req.truth ? p.width.map(() => arena.alloc(p.T * 8)) : null;
  arena.commit();
  writeRules(arena, c, g);
  if (req.truth && truth) req.truth.levels.forEach((lv, l) => arena.i32(truth[l], lv.length).set(lv));
  if (presetUniforms) arena.f64(sr.u, sr.total).set(presetUniforms);
  else drawUniforms(arena, sr, req.rng);
  if (tr && tables && te) {
    arena.i32(tr.tok, count * p.d).set(te.tokens.subarray(0, count * p.d));
    arena.f64(tr.zt, p.v).set(tables.z);
    arena.f64(tr.lo, p.v).set(tables.lo);
    arena.f64(tr.hi, p.v).set(tables.hi);
    if (tr.pairs) {
      // Computed once per (rules of level L−1, evidence values, precision) on this thread, then copied.
      const bytes = p.v * p.v * p.symbols[p.L - 1] * p.size;
      const key = `${precision} ${te.floor} ${te.hit}`;
      const perRules = pairTableCache.get(g.rules[p.L - 1]) ?? new Map<string, Uint8Array>();
      pairTableCache.set(g.rules[p.L - 1], perRules);
      const cached = perRules.get(key);
      const view = new Uint8Array(x.memory.buffer, tr.pairs, bytes);
      if (cached) view.set(cached);
      else {
        k.pairTable(tr.lo, tr.hi, c.rules[p.L - 1], p.symbols[p.L - 1], p.m, p.v, tr.pairs);
        if (perRules.size >= 8) perRules.clear();
        perRules.set(key, view.slice());
      }
    }
  }
  const logEvidence = new Float64Array(count);
  const keptOut = req.truth ? new Float64Array(count * (p.L + 1)) : null;
  const limit = deficitLimit(g, precision);
  const redo32: number[] = [];
  for (let n0 = 0; n0 < count; n0 += p.perChunk) {
    const real = Math.min(p.perChunk, count - n0);
    if (tr) upwardChunkTokens(k, arena, p, c, tr, n0, real, g, logEvidence);
    else {
      const chunk = arena.f64(lam, real * p.d * p.v);
      req.likelihood(n0, n0 + real, chunk);
      checkChunkLikelihood(chunk, p.v, p.d * p.v, n0);
      upwardChunk(k, arena, p, c, lam, n0, real, g, logEvidence);
    }
    const flagged = flaggedLanes(arena, p, c, real, limit);
    k.toDatumMajor(c.up[0], rootOut, 1, p.symbols[0], p.T, real, n0);
    sampleChunk(x, k, p, c, sr, n0, real, K, tr && p.s === 2 ? tr : null, q);
    if (down && keptOut && req.truth) {
      downwardChunk(k, arena, p, c, down, n0, real, truth, kept, null);
      const root = arena.floats(precision, rootOut, count * p.symbols[0]);
      const classes = req.truth.levels[0];
      for (let n = 0; n < real; n++) keptOut[(n0 + n) * (p.L + 1)] = root[(n0 + n) * p.symbols[0] + classes[n0 + n]];
      for (let l = 1; l <= p.L; l++) {
        const kl = arena.f64(kept![l], p.T);
        for (let n = 0; n < real; n++) keptOut[(n0 + n) * (p.L + 1) + l] = kl[n] / p.width[l];
      }
      // A float32 downward pass can lose a lane the upward pass kept (NaN): redo it too.
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
    for (const n of flagged) {
      // float32 data go to the float64 kernels (below); float64 ones to the log domain.
      if (precision === 'f32') {
        redo32.push(n0 + n);
        continue;
      }
      const r = logUpwardDatum(g, fusedLogLikelihood(req, te ?? null, p, n0 + n), 0, n0 + n);
      redoFusedDatum(g, p, arena, precision, req, sr, rootOut, r, n0 + n, logEvidence, keptOut);
    }
  }
  const result = {
    logEvidence,
    rootPosterior: arena.floats(precision, rootOut, count * p.symbols[0]).slice(),
    posterior: copyTrees(arena, p, sr),
    levelMarginalKept: keptOut,
  };
  if (redo32.length > 0) redoInFloat64(g, p, req, arena.f64(sr.u, sr.total).slice(), sr.start, redo32, result);
  return result;
}

/**
 * The data a float32 pass lost (flagged by their deficits, or NaN marginals), redone by the
 * float64 kernels as one sub-batch with the same uniforms (so the same draws as float64 would
 * make), and written over the float32 results. The float64 pass sends its own flagged data to
 * the log domain. Runs after the float32 results are copied out: it reuses the kernels' memory.
 */
function redoInFloat64(g: Grammar, p: Plan, req: FusedRequest, u: Float64Array, start: number[], data: number[], out: FusedResult & { levelMarginalKept: Float64Array | null }): void {
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
  const subReq: FusedRequest = {
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

/** What a FusedRequest's `likelihood` wrote for data from n0: finite, non-negative, finite sums per leaf (ParamError). */
function checkChunkLikelihood(chunk: Float64Array, v: number, stride: number, n0: number): void {
  for (let i = 0; i < chunk.length; i += v) {
    let z = 0;
    for (let b = 0; b < v; b++) {
      const x = chunk[i + b];
      if (!(x >= 0 && x < Infinity)) throw new ParamError('likelihood', `invalid likelihood ${String(x)} written for datum ${n0 + Math.floor(i / stride)} (expected finite numbers >= 0)`);
      z += x;
    }
    if (z === Infinity) throw new ParamError('likelihood', 'invalid likelihood: the values of a leaf sum to Infinity');
  }
}

/** Leaf log-likelihoods of datum n for the log-domain redo: the request's own, or the log of its evidence. */
function fusedLogLikelihood(req: FusedRequest, te: TokenEvidence | null, p: Plan, n: number): Float64Array {
  const out = new Float64Array(p.d * p.v);
  if (req.logLikelihood) {
    req.logLikelihood(n, n + 1, out);
    for (let i = 0; i < out.length; i++) {
      if (!(out[i] < Infinity)) throw new ParamError('logLikelihood', `invalid logLikelihood ${String(out[i])} written for datum ${n} (expected numbers < Infinity, or -Infinity)`);
    }
    return out;
  }
  if (te) {
    out.fill(Math.log(te.floor));
    const logHit = Math.log(te.hit);
    for (let i = 0; i < p.d; i++) out[i * p.v + te.tokens[n * p.d + i]] = logHit;
    return out;
  }
  req.likelihood(n, n + 1, out);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(out[i]);
  return out;
}

/**
 * Replaces datum n's results of a fused batch by its log-domain ones: log-evidence, class
 * posterior, the K posterior trees (same uniforms) and the marginal level estimator.
 */
function redoFusedDatum(g: Grammar, p: Plan, arena: Arena, precision: Precision, req: FusedRequest, sr: SampleRegions & { total: number }, rootOut: Ptr, r: LogUpward, n: number, logEvidence: Float64Array, keptOut: Float64Array | null): void {
  const K = req.trajectories;
  logEvidence[n] = r.logEvidence;
  const nc = p.symbols[0];
  const root = arena.floats(precision, rootOut, (n + 1) * nc);
  for (let a = 0; a < nc; a++) root[n * nc + a] = Math.exp(r.logMessages[0][a]);
  const u = arena.f64(sr.u, sr.total);
  const levels = sr.levels.map((ptr, l) => arena.i32(ptr, sr.rows * p.width[l]));
  resampleLogDomain(g, new Map([[n, r.logMessages]]), K, levels, (level, row, node) => u[level < 0 ? row : sr.start[level + 1] + row * p.width[level] + node]);
  if (keptOut && req.truth) {
    const mu = logMarginalsDatum(g, r.logMessages);
    keptOut[n * (p.L + 1)] = root[n * nc + req.truth.levels[0][n]];
    for (let l = 1; l <= p.L; l++) {
      const w = p.width[l];
      const truth = req.truth.levels[l];
      let sum = 0;
      for (let i = 0; i < w; i++) sum += mu[l][i * p.v + truth[n * w + i]];
      keptOut[n * (p.L + 1) + l] = sum / w;
    }
  }
}

/** Upward sweep with datum-major results (the BpBackend contract). */
export function fastUpward(g: Grammar, precision: Precision, lambda: FloatArray, count: number, logLambda?: Float64Array): UpwardMessages {
  const x = wasm();
  const k = kernelsFor(x, precision);
  const p = plan(g, precision, count);
  const arena = new Arena(x);
  const c = allocChunk(arena, p, g);
  const lam = arena.alloc(p.perChunk * p.d * p.v * 8);
  const out = p.width.map((w, l) => arena.alloc(count * w * p.symbols[l] * p.size));
  arena.commit();
  writeRules(arena, c, g);
  const logEvidence = new Float64Array(count);
  const stride = p.d * p.v;
  const limit = deficitLimit(g, precision);
  const logDomain = new Map<number, Float64Array[]>();
  const redo32: number[] = [];
  for (let n0 = 0; n0 < count; n0 += p.perChunk) {
    const real = Math.min(p.perChunk, count - n0);
    arena.f64(lam, real * stride).set(lambda.subarray(n0 * stride, (n0 + real) * stride));
    upwardChunk(k, arena, p, c, lam, n0, real, g, logEvidence);
    for (let l = 0; l <= p.L; l++) k.toDatumMajor(c.up[l], out[l], p.width[l], p.symbols[l], p.T, real, n0);
    for (const lane of flaggedLanes(arena, p, c, real, limit)) {
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

/** Regions for datum-major messages copied in (typed-array set converts precision if needed). */
function uploadRegions(arena: Arena, p: Plan, count: number): Ptr[] {
  return p.width.map((w, l) => arena.alloc(count * w * p.symbols[l] * p.size));
}

/** Marginals at every level from datum-major upward messages (the BpBackend contract). */
export function fastMarginals(g: Grammar, precision: Precision, messages: readonly FloatArray[], count: number): FloatArray[] {
  const x = wasm();
  const k = kernelsFor(x, precision);
  const p = plan(g, precision, count);
  const arena = new Arena(x);
  const c = allocChunk(arena, p, g);
  const src = uploadRegions(arena, p, count);
  const down = allocDown(arena, p);
  const mu = p.width.map((w, l) => arena.alloc(count * w * p.symbols[l] * p.size));
  arena.commit();
  writeRules(arena, c, g);
  src.forEach((ptr, l) => arena.floats(precision, ptr, messages[l].length).set(messages[l]));
  for (let n0 = 0; n0 < count; n0 += p.perChunk) {
    const real = Math.min(p.perChunk, count - n0);
    for (let l = 0; l <= p.L; l++) k.fromDatumMajor(src[l], c.up[l], p.width[l], p.symbols[l], p.T, real, n0);
    downwardChunk(k, arena, p, c, down, n0, real, null, null, mu);
  }
  const out = mu.map((ptr, l) => arena.floats(precision, ptr, count * p.width[l] * p.symbols[l]).slice());
  // Root: uniform prior, so μ_0 = ν↑_0.
  out[0] = precision === 'f64' ? Float64Array.from(messages[0]) : Float32Array.from(messages[0]);
  return out;
}

/** Exact posterior samples from datum-major upward messages (the BpBackend contract). */
export function fastSample(g: Grammar, precision: Precision, messages: readonly FloatArray[], count: number, rng: Rng, K: number, logDomain?: ReadonlyMap<number, readonly Float64Array[]>): TreeBatch {
  const x = wasm();
  const k = kernelsFor(x, precision);
  const p = plan(g, precision, count);
  const arena = new Arena(x);
  const c = allocChunk(arena, p, g);
  const src = uploadRegions(arena, p, count);
  const sr = allocSample(arena, p, count, K);
  arena.commit();
  writeRules(arena, c, g);
  src.forEach((ptr, l) => arena.floats(precision, ptr, messages[l].length).set(messages[l]));
  drawUniforms(arena, sr, rng);
  for (let n0 = 0; n0 < count; n0 += p.perChunk) {
    const real = Math.min(p.perChunk, count - n0);
    for (let l = 0; l <= p.L; l++) k.fromDatumMajor(src[l], c.up[l], p.width[l], p.symbols[l], p.T, real, n0);
    sampleChunk(x, k, p, c, sr, n0, real, K);
  }
  const trees = copyTrees(arena, p, sr);
  if (logDomain) {
    const u = arena.f64(sr.u, sr.total);
    resampleLogDomain(g, logDomain, K, trees.levels as Int32Array[], (level, row, node) => u[level < 0 ? row : sr.start[level + 1] + row * p.width[level] + node]);
  }
  return trees;
}
