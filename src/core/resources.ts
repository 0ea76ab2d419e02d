/**
 * Resource estimates of whole requests (docs/limits.md). Each parameter is validated alone
 * elsewhere; here the memory a request needs as a whole is estimated before anything runs, so a
 * request that cannot fit is refused in one line (a ParamError, exit 2) instead of crashing in an
 * allocation minutes later.
 *
 * The limit is {@link memoryLimit}: `HIERDIFF_MEMORY_LIMIT` when set (bytes, or a number with a
 * K, M, G or T suffix, binary units: `512M`, `8G`, `8GiB`), otherwise half of the machine's
 * memory capped at {@link DEFAULT_MEMORY_CAP} (the cap itself in a browser).
 */
import { ParamError } from './errors.ts';

/**
 * Node's `process` where there is one: the library also runs in the explorer page, which has no
 * environment and no machine memory to read (it sizes its own work), so nothing here imports `node:`.
 */
const nodeProcess = (globalThis as { process?: { env: Record<string, string | undefined>; getBuiltinModule?(id: 'node:os'): { totalmem(): number } } }).process;

export const GIB = 2 ** 30;
export const MIB = 2 ** 20;

/** Environment variable overriding the memory limit. */
export const MEMORY_LIMIT_ENV = 'HIERDIFF_MEMORY_LIMIT';
/** Default limit: half the machine's memory, at most this. */
export const DEFAULT_MEMORY_CAP = 4 * GIB;
/**
 * Largest WebAssembly memory of the fast kernels (wasm32: 65536 pages of 64 KiB), less a margin
 * for the kernels' own data and alignment.
 */
export const WASM_MEMORY_BYTES = 4 * GIB - 64 * MIB;
/** Largest cell count of one forward-backward run (it keeps every cell and writes one JSON). */
export const MAX_GRID_CELLS = 1_000_000;

/** The memory limit in bytes (see the module comment). */
export function memoryLimit(): number {
  const text = nodeProcess?.env[MEMORY_LIMIT_ENV];
  if (text === undefined || text.trim() === '') {
    const total = nodeProcess?.getBuiltinModule?.('node:os').totalmem();
    return total === undefined ? DEFAULT_MEMORY_CAP : Math.min(DEFAULT_MEMORY_CAP, Math.floor(total / 2));
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const unit = m ? { '': 1, k: 2 ** 10, m: MIB, g: GIB, t: 2 ** 40 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'] : 0;
  const bytes = m ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes < MIB) {
    throw new ParamError(MEMORY_LIMIT_ENV, `invalid ${MEMORY_LIMIT_ENV} "${text}" (expected a size of at least 1 MiB, e.g. 512M or 8G)`);
  }
  return bytes;
}

/** Bytes for people: `12.4 GiB`, `600 MiB`, `12 KiB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${trim(bytes / GIB)} GiB`;
  if (bytes >= MIB) return `${trim(bytes / MIB)} MiB`;
  if (bytes >= 1024) return `${trim(bytes / 1024)} KiB`;
  return `${Math.ceil(bytes)} B`;
}

function trim(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1).replace(/\.0$/, '');
}

/**
 * Throws `invalid --<param> <value> (needs ≈ X of memory, the limit is Y: <why>)` when `bytes`
 * exceeds the memory limit.
 */
export function requireMemory(param: string, value: string, bytes: number, why: string): void {
  const limit = memoryLimit();
  if (bytes > limit) {
    throw new ParamError(param, `invalid --${param} ${value} (needs ≈ ${formatBytes(bytes)} of memory, the limit is ${formatBytes(limit)}: ${why})`);
  }
}

/**
 * The library's form of {@link requireMemory} (no `--` flag): throws
 * `invalid <param> <value> (needs ≈ X of memory, the limit is Y: <why>)`.
 */
export function checkMemory(param: string, value: number, bytes: number, why: string): void {
  const limit = memoryLimit();
  if (bytes > limit) {
    throw new ParamError(param, `invalid ${param} ${value} (needs ≈ ${formatBytes(bytes)} of memory, the limit is ${formatBytes(limit)} (${MEMORY_LIMIT_ENV}): ${why})`);
  }
}

/** Sizes of a grammar as the estimates need them. */
export interface Shape {
  readonly vocab: number;
  readonly classes: number;
  readonly tuple: number;
  readonly depth: number;
}

/** Nodes of one tree, levels 0..L: Σ s^ℓ. */
export function treeNodes(s: number, L: number): number {
  let n = 0;
  for (let l = 0; l <= L; l++) n += s ** l;
  return n;
}

/** Σ_ℓ nodes·symbols: the message floats of one datum. */
function messageFloats(g: Shape): number {
  let n = 0;
  for (let l = 0; l <= g.depth; l++) n += g.tuple ** l * (l === 0 ? g.classes : g.vocab);
  return n;
}

/**
 * `hierdiff sample`: the drawn trees (every level, Int32) of `count` data. Output is streamed
 * datum by datum, so it adds no more than one datum's text at a time.
 */
export function sampleBytes(g: Shape, count: number): number {
  return count * treeNodes(g.tuple, g.depth) * 4;
}

/**
 * WebAssembly memory of one fused batch of the fast kernels (src/bp/fast/): lane-layout
 * messages of every level for a chunk of ≤ 16 (f64) or 32 (f32) data padded to a multiple of 4,
 * about three times over (upward, the downward ping-pong buffers and marginals), plus the batch's
 * trees. A conservative model: at s = 2, v = 32 it admits f64 to L = 19 and f32 to L = 20.
 */
export function fastBatchBytes(g: Shape, batch: number, precision: 'f64' | 'f32', trajectories: number): number {
  const size = precision === 'f64' ? 8 : 4;
  const lanes = Math.ceil(Math.min(batch, precision === 'f64' ? 16 : 32) / 4) * 4;
  return 3 * messageFloats(g) * lanes * size + batch * (1 + trajectories) * treeNodes(g.tuple, g.depth) * 4 + batch * g.tuple ** g.depth * (4 + g.vocab * 8);
}

/**
 * Memory of one batch of the reference backend (src/bp/reference.ts): likelihoods and their logs,
 * upward messages and marginals in float64 for the whole batch, plus the batch's trees, K
 * posterior trees and their uniforms (float64, drawn before sampling).
 */
export function referenceBatchBytes(g: Shape, batch: number, trajectories: number): number {
  return batch * (2 * g.tuple ** g.depth * g.vocab * 8 + 3 * messageFloats(g) * 8 + (1 + trajectories) * treeNodes(g.tuple, g.depth) * 4 + trajectories * treeNodes(g.tuple, g.depth) * 8);
}

/**
 * Characters of one forward-backward cell in the results JSON (cell stats and row, pretty-printed;
 * measured ≈ 2 KB at L = 2, ≈ 50 KB at L = 10 with --correlations, whose C(r) is O(s^L)).
 */
export function cellJsonChars(depth: number, correlations: boolean, leaves: number): number {
  return 2048 + 256 * (depth + 1) + (correlations ? 64 * leaves : 0);
}

/** Memory of the results of one forward-backward cell held until the end (stats, row, its JSON text). */
export function cellResultBytes(depth: number, correlations: boolean, leaves: number): number {
  return 3 * cellJsonChars(depth, correlations, leaves);
}

/** Longest string of the JavaScript engine (V8, 64-bit: 2^29 − 24 characters): one JSON text at most. */
export const MAX_STRING_CHARS = 2 ** 29 - 24;

/**
 * Population dynamics (src/theory/quenchedPopulation.ts, annealedPopulation.ts) with N members
 * per symbol: the upward pass keeps two levels (v²·N floats each; with the level profile every
 * level, then the downward pass's v·N members of v floats twice); annealed: two levels of N·v
 * floats.
 */
export function populationBytes(sizes: { vocab: number; classes: number }, depth: number, population: number, levels: boolean, annealed: boolean): number {
  const v = Math.max(sizes.vocab, sizes.classes);
  if (annealed) return 2 * population * v * 8;
  if (!levels) return 2 * v * v * population * 8;
  return (depth + 1) * v * v * population * 8 + 2 * v * population * (v * 8 + 4);
}
