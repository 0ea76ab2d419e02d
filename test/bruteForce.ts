import type { Grammar } from '../src/grammar/grammar.ts';
import { decodeIndex, pMax } from '../src/grammar/count.ts';
import { symbolsAt } from '../src/grammar/params.ts';

/** Every tree of a tiny grammar with its latent levels (each tree has prior 1/P_max). */
export function allTrees(g: Grammar): Int32Array[][] {
  const total = Number(pMax(g));
  if (total > 200_000) throw new Error('grammar too large to enumerate');
  return Array.from({ length: total }, (_, i) => decodeIndex(g, BigInt(i)).levels as Int32Array[]);
}

export interface BruteForcePosterior {
  /** marginals[ℓ][i·N_ℓ + a] */
  marginals: Float64Array[];
  logEvidence: number;
  /** posterior probability of each tree, in allTrees order */
  treePosterior: Float64Array;
}

/**
 * Exact posterior by enumeration: weight(tree) = (1/P_max)·Π_i λ_i(x_i) for one datum's leaf
 * likelihoods `lambda` (d·v, token-major).
 */
export function bruteForcePosterior(g: Grammar, trees: Int32Array[][], lambda: ArrayLike<number>): BruteForcePosterior {
  const v = g.vocab;
  const weights = new Float64Array(trees.length);
  let total = 0;
  trees.forEach((levels, t) => {
    const leaves = levels[g.depth];
    let w = 1 / trees.length;
    for (let i = 0; i < leaves.length; i++) w *= lambda[i * v + leaves[i]];
    weights[t] = w;
    total += w;
  });
  const marginals = Array.from({ length: g.depth + 1 }, (_, l) => new Float64Array(g.tuple ** l * symbolsAt(g, l)));
  trees.forEach((levels, t) => {
    const p = weights[t] / total;
    for (let l = 0; l <= g.depth; l++) {
      const N = symbolsAt(g, l);
      levels[l].forEach((a, i) => {
        marginals[l][i * N + a] += p;
      });
    }
  });
  return { marginals, logEvidence: Math.log(total), treePosterior: weights.map((w) => w / total) };
}
