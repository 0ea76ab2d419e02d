import type { TokenEvidence } from '../types.ts';
import type { Ptr } from './kernels.ts';
import { zdefAt, type Chunk, type ChunkLayout, type Pass, type Plan } from './plan.ts';
import { sweepUp } from './upward.ts';

/** Largest level-(L−1) pair table (v²·v floats) used instead of storing level L−1. */
const PAIR_TABLE_BYTES = 1 << 20;
/** Pair tables already computed on this thread, per rules array of level L−1 (grammars are immutable). */
const pairTableCache = new WeakMap<object, Map<string, Uint8Array>>();

/** The normalised leaf values per observed token value x, and each one's normaliser z. */
export interface TokenTables {
  readonly z: Float64Array;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}

/**
 * The normalised leaf values per observed token value x, computed exactly as the `leaves` kernel
 * would from λ (z = Σ_b λ(b) in order, then λ·(1/z)); null when some z is not positive and finite
 * (the λ path then reports the inconsistency). Every z is the same in-order float sum as that loop
 * (v − 1 floors and the hit at position x), in O(v · binades) time, not O(v²): {@link addRepeatedly}.
 */
export function tokenTables(v: number, floor: number, hit: number): TokenTables | null {
  const z = new Float64Array(v);
  const lo = new Float64Array(v);
  const hi = new Float64Array(v);
  let before = 0; // the floors at b < x, summed in order
  for (let x = 0; x < v; x++) {
    const sum = addRepeatedly(before + hit, floor, v - 1 - x);
    before += floor;
    if (!(sum > 0) || !Number.isFinite(sum)) return null;
    const inv = 1 / sum;
    z[x] = sum;
    lo[x] = floor * inv;
    hi[x] = hit * inv;
  }
  return { z, lo, hi };
}

const bits = new DataView(new ArrayBuffer(8));

/**
 * `for (i = 0; i < n; i++) a += f` for a, f ≥ 0, bit for bit, without n additions. Between two
 * powers of two the doubles are evenly spaced (u apart), so adding f moves a by a fixed multiple δ
 * of u — rn(f/u)·u, or under a tie (f/u = k + ½, round half to even) the same after a first step,
 * since every result then has an even last bit — as long as the result stays below the next power
 * of two; the steps up to it are taken at once (a + j·δ is exact there), the rest one by one.
 */
export function addRepeatedly(a: number, f: number, n: number): number {
  while (n > 0) {
    if (f === 0 || a === Infinity) return a;
    bits.setFloat64(0, a);
    const exponent = (bits.getUint32(0) >>> 20) & 0x7ff;
    // Past 2^1023 the next power of two is not a double: step one by one (never for likelihoods).
    if (exponent >= 2046) {
      a += f;
      n--;
      continue;
    }
    // Spacing u and the next power of two (subnormals: 2^-1074 up to 2^-1022).
    const top = exponent === 0 ? 2 ** -1022 : 2 ** (exponent - 1022);
    const u = exponent === 0 ? 2 ** -1074 : 2 ** (exponent - 1075);
    // One step (fixes the last bit's parity under a tie), then δ, exact by Sterbenz while a ≤ next ≤ 2a.
    const first = a + f;
    n--;
    if (n === 0 || first >= top) {
      a = first;
      continue;
    }
    const step = first + f - first;
    if (step === 0) return first;
    if (first + step >= top || !(step >= u)) {
      a = first;
      continue;
    }
    // The largest j ≤ n with first + j·step < top (j·step/u ≤ 2^52: exact).
    let j = Math.min(n, Math.ceil((top - first) / step) - 1);
    while (j > 0 && first + j * step >= top) j--;
    a = first + j * step;
    n -= j;
  }
  return a;
}

/**
 * The chunk layout of the token path: the whole leaf level is needed by a downward pass, and by
 * sampling unless s = 2; level L−1 comes from the pair table when that is small (v²·v floats)
 * and level L−2 is still swept block by block (so level L−1 is only needed one block at a time).
 */
export function tokenLayout(p: Plan, downward: boolean): ChunkLayout {
  const leafLevel = downward || p.s !== 2;
  const pairs = !leafLevel && p.L >= 2 && p.blockHeight >= 2 && p.v * p.v * p.symbols[p.L - 1] * p.size <= PAIR_TABLE_BYTES;
  return { leafLevel, pairs };
}

/**
 * Token evidence of a batch in the kernels' memory: the per-token-value tables and the
 * lane-layout arrays of {@link upwardChunkTokens}. Unless the pass keeps the whole leaf level,
 * leaf messages live only one subtree block at a time, in cache.
 */
export interface TokenRegions {
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

export function allocTokens(pass: Pass, count: number): TokenRegions {
  const { arena, p } = pass;
  const lane = p.d * p.T * p.size;
  return {
    pairs: pass.layout.pairs ? arena.alloc(p.v * p.v * p.symbols[p.L - 1] * p.size) : 0,
    tok: arena.alloc(count * p.d * 4),
    zt: arena.alloc(p.v * 8),
    lo: arena.alloc(p.v * 8),
    hi: arena.alloc(p.v * 8),
    tokL: arena.alloc(lane),
    loL: arena.alloc(lane),
    hiL: arena.alloc(lane),
  };
}

/** Writes the batch's tokens and tables (after the pass is committed), and the pair table if used. */
export function loadTokens(pass: Pass, t: TokenRegions, te: TokenEvidence, tables: TokenTables, count: number): void {
  const { k, arena, p, c, g } = pass;
  arena.i32(t.tok, count * p.d).set(te.tokens.subarray(0, count * p.d));
  arena.f64(t.zt, p.v).set(tables.z);
  arena.f64(t.lo, p.v).set(tables.lo);
  arena.f64(t.hi, p.v).set(tables.hi);
  if (!t.pairs) return;
  // Computed once per (rules of level L−1, evidence values, precision) on this thread, then copied.
  const bytes = p.v * p.v * p.symbols[p.L - 1] * p.size;
  const key = `${pass.precision} ${te.floor} ${te.hit}`;
  const perRules = pairTableCache.get(g.rules[p.L - 1]) ?? new Map<string, Uint8Array>();
  pairTableCache.set(g.rules[p.L - 1], perRules);
  const cached = perRules.get(key);
  const view = arena.bytes(t.pairs, bytes);
  if (cached) view.set(cached);
  else {
    k.pairTable(t.lo, t.hi, c.rules[p.L - 1], p.symbols[p.L - 1], p.m, p.v, t.pairs);
    if (perRules.size >= 8) perRules.clear();
    perRules.set(key, view.slice());
  }
}

/**
 * The upward sweep of a chunk from token evidence: per subtree block, the block's token arrays
 * and z (same order as the leaves kernel), the leaves' parents straight from them, then the
 * block's other levels. Bit-identical messages and log-evidence to the λ path, without the leaf level.
 */
export function upwardChunkTokens(pass: Pass, chunk: Chunk, t: TokenRegions, logEvidence: Float64Array): void {
  const { k, p, c } = pass;
  const h = Math.max(1, p.blockHeight);
  const tok = t.tok + chunk.n0 * p.d * 4;
  sweepUp(
    pass,
    chunk,
    h,
    (i0, leavesPerBlock) => {
      // Leaf i of the block lives at leaves + i·v·R: the level's base, or the block scratch shifted
      // back by i0 leaves (addresses wrap modulo 2^32, as the kernels' pointer arithmetic does).
      const leaves = pass.layout.leafLevel ? c.up[p.L] : (c.up[p.L] - i0 * p.v * p.T * p.size) >>> 0;
      k.tokenLeaves(tok, p.d, i0, i0 + leavesPerBlock, p.v, p.T, chunk.real, t.zt, t.lo, t.hi, t.tokL, t.loL, t.hiL, leaves, c.zprod, c.zexp);
      // With the pair table, level L−1 lives in a block scratch shifted back like the leaves.
      const low = t.pairs ? (c.up[p.L - 1] - (i0 / p.s) * p.symbols[p.L - 1] * p.T * p.size) >>> 0 : c.up[p.L - 1];
      for (let l = p.L - 1, first = i0 / p.s, n = leavesPerBlock / p.s; l >= p.L - h; l--, first /= p.s, n /= p.s) {
        const child = l === p.L - 1 ? leaves : l === p.L - 2 ? low : c.up[l + 1];
        const parent = l === p.L - 1 ? low : c.up[l];
        k.upward(child, parent, c.rules[l], c.off, c.zs, first, n, p.symbols[l], p.m, p.v, p.s, p.T, chunk.real, c.zprod, c.zexp, zdefAt(pass, l));
      }
    },
    logEvidence,
  );
}
