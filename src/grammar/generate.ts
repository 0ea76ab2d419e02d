import { Sfc32, type Rng } from '../core/random.ts';
import { checkInt } from '../core/errors.ts';
import type { Grammar } from './grammar.ts';

/**
 * A batch of RHM data with their whole latent trees. `levels[ℓ]` is an Int32Array of length
 * count·s^ℓ, datum-major: node i of level ℓ of datum n is at `[n·s^ℓ + i]`. `levels[0]` holds
 * the classes, `levels[L]` the tokens.
 */
export interface TreeBatch {
  readonly count: number;
  readonly levels: readonly Int32Array[];
}

/**
 * Draws `count` data (docs/science.md §1, Generation): class uniform, each internal node picks one of its m
 * rules uniformly and writes the tuple into its children, left to right.
 */
export function generate(g: Grammar, count: number, rng: Rng): TreeBatch {
  checkInt('samples', count, 1, 1e9);
  const { tuple: s, synonyms: m, depth: L } = g;
  const levels: Int32Array[] = [new Int32Array(count)];
  // m ≥ 2 a power of two (m = 1: nextInt(1) draws nothing, so it stays on the general path), and
  // this library's generator, whose nextInt(m) is then exactly nextUint32() % m.
  const pow2 = rng instanceof Sfc32 && m >= 2 && (m & (m - 1)) === 0 && m <= 2 ** 30;
  const mask = m - 1;
  for (let n = 0; n < count; n++) levels[0][n] = rng.nextInt(g.classes);
  let width = 1;
  for (let level = 0; level < L; level++) {
    const parents = levels[level];
    const children = new Int32Array(count * width * s);
    const rules = g.rules[level];
    const nodes = count * width;
    if (pow2 && s === 2) {
      // nextInt(m) for m a power of two is nextUint32() % m (its rejection limit is 2^32, never
      // hit), i.e. the low bits: the same draws as below without the float modulo.
      for (let p = 0; p < nodes; p++) {
        const base = (parents[p] * m + (rng.nextUint32() & mask)) * 2;
        children[2 * p] = rules[base];
        children[2 * p + 1] = rules[base + 1];
      }
    } else if (pow2) {
      for (let p = 0; p < nodes; p++) {
        const base = (parents[p] * m + (rng.nextUint32() & mask)) * s;
        for (let j = 0; j < s; j++) children[p * s + j] = rules[base + j];
      }
    } else {
      for (let p = 0; p < nodes; p++) {
        const base = (parents[p] * m + rng.nextInt(m)) * s;
        for (let j = 0; j < s; j++) children[p * s + j] = rules[base + j];
      }
    }
    levels.push(children);
    width *= s;
  }
  return { count, levels };
}

/** The tokens (leaves) of datum n of a batch, as a view. */
export function tokensOf(batch: TreeBatch, n: number): Int32Array {
  const leaves = batch.levels[batch.levels.length - 1];
  const d = leaves.length / batch.count;
  return leaves.subarray(n * d, (n + 1) * d);
}
