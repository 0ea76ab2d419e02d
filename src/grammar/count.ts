import { ParamError } from '../core/errors.ts';
import type { Grammar } from './grammar.ts';
import type { GrammarParams } from './params.ts';
import type { TreeBatch } from './generate.ts';

/** Number of internal nodes of the tree: (s^L − 1)/(s − 1). */
export function internalNodeCount(p: GrammarParams): number {
  return (p.tuple ** p.depth - 1) / (p.tuple - 1);
}

/** P_max = n_c · m^((s^L − 1)/(s − 1)): the number of distinct data (docs/science.md §1), exact. */
export function pMax(p: GrammarParams): bigint {
  return BigInt(p.classes) * BigInt(p.synonyms) ** BigInt(internalNodeCount(p));
}

/**
 * The datum of index `index` in the published indexing: class = ⌊i / (P_max/n_c)⌋, then, level by
 * level and left to right, each internal node's rule index as a base-m digit, most significant
 * first. Returns a batch of one datum with its latent tree.
 */
export function decodeIndex(g: Grammar, index: bigint): TreeBatch {
  const total = pMax(g);
  if (typeof index !== 'bigint' || index < 0n || index >= total) {
    throw new ParamError('index', `invalid index ${String(index)} (expected an integer in [0, ${total - 1n}])`);
  }
  const perClass = total / BigInt(g.classes);
  const cls = Number(index / perClass);
  let rest = index % perClass;
  const internal = internalNodeCount(g);
  const m = BigInt(g.synonyms);
  const digits = new Int32Array(internal);
  for (let i = internal - 1; i >= 0; i--) {
    digits[i] = Number(rest % m);
    rest /= m;
  }
  const { tuple: s, synonyms: ms } = g;
  const levels: Int32Array[] = [Int32Array.of(cls)];
  let digit = 0;
  for (let level = 0; level < g.depth; level++) {
    const parents = levels[level];
    const children = new Int32Array(parents.length * s);
    for (let p = 0; p < parents.length; p++) {
      const base = (parents[p] * ms + digits[digit++]) * s;
      for (let j = 0; j < s; j++) children[p * s + j] = g.rules[level][base + j];
    }
    levels.push(children);
  }
  return { count: 1, levels };
}
