import { expect } from 'vitest';
import type { TreeBatch } from '../src/grammar/generate.ts';
import type { Grammar } from '../src/grammar/grammar.ts';
import { decodeIndex, pMax } from '../src/grammar/count.ts';
import { symbolsAt } from '../src/grammar/params.ts';
import { monteCarloTolerance } from './tolerance.ts';

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

/**
 * Posterior samples (`samples.count` whole trees) against the exact tree posterior of one datum
 * (`treePosterior`, in allTrees order): every sample is a tree of the grammar, and the frequency
 * of each tree expected at least 10 times is within Monte Carlo bounds; rarer trees are pooled
 * into one bin (the normal approximation behind the 5-sigma bound fails for them).
 */
export function expectTreeFrequencies(trees: Int32Array[][], treePosterior: Float64Array, samples: TreeBatch): void {
  const K = samples.count;
  const index = new Map<string, number>();
  trees.forEach((levels, t) => index.set(levels.map((x) => x.join(',')).join('|'), t));
  const counts = new Float64Array(trees.length);
  for (let k = 0; k < K; k++) {
    const key = samples.levels.map((lv) => {
      const w = lv.length / K;
      return Array.from(lv.subarray(k * w, (k + 1) * w)).join(',');
    });
    const t = index.get(key.join('|'));
    expect(t, 'every sample is a tree of the grammar').toBeDefined();
    counts[t!] += 1;
  }
  let rareP = 0;
  let rareCount = 0;
  let checked = 0;
  for (let t = 0; t < trees.length; t++) {
    const p = treePosterior[t];
    if (p * K < 10) {
      rareP += p;
      rareCount += counts[t];
      continue;
    }
    checked++;
    expect(Math.abs(counts[t] / K - p)).toBeLessThanOrEqual(monteCarloTolerance(p, K));
  }
  expect(checked).toBeGreaterThan(0);
  expect(Math.abs(rareCount / K - rareP)).toBeLessThanOrEqual(monteCarloTolerance(rareP, K));
}
