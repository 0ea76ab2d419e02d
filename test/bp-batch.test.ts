/**
 * The one BP contract the experiment uses, `BpBackend.batch`, on every backend against
 * brute-force enumeration: log-evidence, class posterior and the marginal level estimator to the
 * backend's tolerance, posterior-sample frequencies of whole trees within Monte Carlo bounds —
 * from likelihoods and from token evidence (the fast backends' token path).
 */
import { describe, expect, it } from 'vitest';
import type { BatchRequest } from '../src/bp/types.ts';
import { createRng } from '../src/core/random.ts';
import { generate } from '../src/grammar/generate.ts';
import type { Grammar } from '../src/grammar/grammar.ts';
import { leafCount, symbolsAt } from '../src/grammar/params.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { makeProcess, type ProcessName } from '../src/noise/process.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { BACKENDS } from './backends.ts';
import { allTrees, bruteForcePosterior, expectTreeFrequencies } from './bruteForce.ts';

/** Tiny grammars from fixed seeds: s = 2 and s = 3, n_c = v and n_c ≠ v. */
const GRAMMARS: { name: string; g: Grammar }[] = [
  { name: 'v4 m2 s2 L2', g: sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 1) },
  { name: 'v4 nc3 m3 s2 L3', g: sampleRules({ vocab: 4, classes: 3, synonyms: 3, tuple: 2, depth: 3 }, 2) },
  { name: 'v3 nc2 m2 s3 L2', g: sampleRules({ vocab: 3, classes: 2, synonyms: 2, tuple: 3, depth: 2 }, 3) },
];

/** Processes and noise levels (ε, or t/T for gaussian); `tokens`: give the token evidence too. */
const EVIDENCE: { process: ProcessName; noise: number; tokens: boolean }[] = [
  { process: 'eps', noise: 0.4, tokens: false },
  { process: 'eps', noise: 0.4, tokens: true },
  { process: 'uniform', noise: 0.35, tokens: true },
  { process: 'mask', noise: 0.5, tokens: false },
  { process: 'gaussian', noise: 0.1, tokens: false },
];
const schedule = linearSchedule();

/** A batch request for `count` data of the grammar under a process, and its λ for enumeration. */
function requestFor(g: Grammar, e: (typeof EVIDENCE)[number], count: number, seed: number, K: number, withTruth: boolean) {
  const d = leafCount(g);
  const v = g.vocab;
  const truth = generate(g, count, createRng(seed, 1));
  const p = makeProcess(e.process, e.noise, schedule);
  const obs = p.sample(truth.levels[g.depth], v, createRng(seed, 2));
  const lambda = new Float64Array(count * d * v);
  p.likelihood(obs, v, lambda);
  const request: BatchRequest = {
    count,
    likelihood: (start, end, out) => out.set(lambda.subarray(start * d * v, end * d * v)),
    rng: createRng(seed, 3),
    trajectories: K,
    truth: withTruth ? truth : null,
    tokenEvidence: e.tokens ? p.tokenEvidence!(obs, v) : null,
  };
  return { request, lambda, truth };
}

describe.each(BACKENDS)('BpBackend.batch of $backend.name', ({ backend, tolerance }) => {
  describe.each(GRAMMARS)('grammar $name', ({ g }) => {
    const trees = allTrees(g);
    const d = leafCount(g);
    const v = g.vocab;
    const L = g.depth;

    it.each(EVIDENCE)('log-evidence, class posterior and marginal level estimator equal enumeration ($process, tokens $tokens)', (e) => {
      const count = 5;
      const { request, lambda, truth } = requestFor(g, e, count, 11, 2, true);
      const r = backend.batch(g, request);
      const tol = tolerance(L);
      expect(r.posterior.count).toBe(count * 2);
      for (let n = 0; n < count; n++) {
        const exact = bruteForcePosterior(g, trees, lambda.subarray(n * d * v, (n + 1) * d * v));
        expect(Math.abs(r.logEvidence[n] - exact.logEvidence)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(exact.logEvidence)));
        for (let a = 0; a < g.classes; a++) expect(Math.abs(r.rootPosterior[n * g.classes + a] - exact.marginals[0][a])).toBeLessThanOrEqual(tol);
        for (let l = 0; l <= L; l++) {
          const w = g.tuple ** l;
          const N = symbolsAt(g, l);
          let kept = 0;
          for (let i = 0; i < w; i++) kept += exact.marginals[l][i * N + truth.levels[l][n * w + i]];
          expect(Math.abs(r.levelMarginalKept![n * (L + 1) + l] - kept / w)).toBeLessThanOrEqual(tol);
        }
      }
      // Without truth, no marginal level estimator (and, for the fast backends, no downward pass).
      expect(backend.batch(g, { ...request, truth: null, rng: createRng(11, 3) }).levelMarginalKept).toBeNull();
    });

    it.each(EVIDENCE.filter((e) => e.process !== 'uniform'))('posterior-sample frequencies of whole trees match enumeration within Monte Carlo bounds ($process, tokens $tokens)', (e) => {
      const K = 10000;
      const { request, lambda } = requestFor(g, e, 1, 21, K, false);
      const exact = bruteForcePosterior(g, trees, lambda);
      expectTreeFrequencies(trees, exact.treePosterior, backend.batch(g, request).posterior);
    });
  });
});
