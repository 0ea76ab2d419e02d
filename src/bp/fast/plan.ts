import type { Grammar } from '../../grammar/grammar.ts';
import { symbolsAt } from '../../grammar/params.ts';
import type { FloatArray } from '../types.ts';
import { Arena } from './arena.ts';
import { kernels, type KernelInstance, type Kernels, type Precision, type Ptr } from './kernels.ts';

/** Data per chunk (lanes): float64 rows of 16 lanes are two cache lines, float32 rows of 32 too. */
const LANES: Record<Precision, number> = { f64: 16, f32: 32 };
/** Bytes of lane-layout leaf messages per subtree block: the block's upward sweep stays in L2. */
const BLOCK_LEAF_BYTES = 1 << 18;

/**
 * Geometry of a grammar for the kernels: symbols and nodes per level, the chunk size (lanes per
 * pass: a multiple of 4, so rows are whole SIMD vectors in both precisions) and the height of the
 * subtree blocks the lowest levels are swept in.
 */
export interface Plan {
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
export interface ChunkRegions {
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

/**
 * Which levels a pass keeps whole. `leafLevel: false` (token evidence, no downward pass): one
 * subtree block's leaves; with `pairs`, level L−1 too is one block's (its ν↑ is sampled from the
 * pair table, src/bp/fast/tokens.ts).
 */
export interface ChunkLayout {
  readonly leafLevel: boolean;
  readonly pairs: boolean;
}

function allocChunk(arena: Arena, p: Plan, g: Grammar, layout: ChunkLayout): ChunkRegions {
  const R = p.T * p.size;
  const { leafLevel, pairs } = layout;
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

/** One call of the fast engine: the kernels of its precision, its arena, plan and chunk regions. */
export interface Pass {
  readonly g: Grammar;
  readonly precision: Precision;
  readonly wasm: KernelInstance;
  readonly k: Kernels;
  readonly arena: Arena;
  readonly p: Plan;
  readonly layout: ChunkLayout;
  readonly c: ChunkRegions;
}

/** Every level whole. */
const WHOLE: ChunkLayout = { leafLevel: true, pairs: false };

/**
 * Starts a call over `count` data (`layoutOf` picks the chunk layout from the plan): allocate
 * the call's other regions, then {@link commitPass}.
 */
export function openPass(g: Grammar, precision: Precision, count: number, layoutOf: (p: Plan) => ChunkLayout = () => WHOLE): Pass {
  const wasm = kernels();
  const arena = new Arena(wasm);
  const p = plan(g, precision, count);
  const layout = layoutOf(p);
  return { g, precision, wasm, k: wasm[precision], arena, p, layout, c: allocChunk(arena, p, g, layout) };
}

/** Grows the memory for every region allocated so far and writes the grammar's rules. */
export function commitPass(pass: Pass): void {
  pass.arena.commit();
  pass.g.rules.forEach((r, l) => pass.arena.i32(pass.c.rules[l], r.length).set(r));
}

/** Regions for the datum-major messages of `count` data at every level. */
export function datumMajorRegions(pass: Pass, count: number): Ptr[] {
  const { p, arena } = pass;
  return p.width.map((w, l) => arena.alloc(count * w * p.symbols[l] * p.size));
}

/** Writes datum-major messages into their regions (typed-array set converts precision if needed). */
export function writeDatumMajor(pass: Pass, regions: Ptr[], messages: readonly FloatArray[]): void {
  regions.forEach((ptr, l) => pass.arena.floats(pass.precision, ptr, messages[l].length).set(messages[l]));
}

/** A chunk's messages at every level from datum-major regions into the lane layout. */
export function toLaneLayout(pass: Pass, regions: Ptr[], chunk: Chunk): void {
  const { k, p, c } = pass;
  for (let l = 0; l <= p.L; l++) k.fromDatumMajor(regions[l], c.up[l], p.width[l], p.symbols[l], p.T, chunk.real, chunk.n0);
}

/** Data n0 .. n0 + real − 1 of a batch, swept together as lanes. */
export interface Chunk {
  readonly n0: number;
  readonly real: number;
}

/** The chunks of a batch of `count` data, in order. */
export function chunksOf(p: Plan, count: number): Chunk[] {
  const out: Chunk[] = [];
  for (let n0 = 0; n0 < count; n0 += p.perChunk) out.push({ n0, real: Math.min(p.perChunk, count - n0) });
  return out;
}

/** The zdef row of level ℓ. */
export function zdefAt(pass: Pass, level: number): Ptr {
  return pass.c.zdef + level * pass.p.T * 4;
}
