import { describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { InconsistentEvidenceError } from '../src/core/errors.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import type { Grammar } from '../src/grammar/grammar.ts';
import { generate } from '../src/grammar/generate.ts';
import { leafCount, symbolsAt } from '../src/grammar/params.ts';
import { makeProcess, maskProcess, PROCESS_NAMES, type ProcessName } from '../src/noise/process.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { BACKENDS } from './backends.ts';
import { allTrees, bruteForcePosterior, expectTreeFrequencies } from './bruteForce.ts';
import { maxAbsDiff } from './helpers/arrays.ts';

/** Tiny grammars from fixed seeds: s = 2 and s = 3, n_c = v and n_c ≠ v, both rule generators. */
const GRAMMARS: { name: string; g: Grammar }[] = [
  { name: 'v4 m2 s2 L2', g: sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 1) },
  { name: 'v4 nc3 m3 s2 L3', g: sampleRules({ vocab: 4, classes: 3, synonyms: 3, tuple: 2, depth: 3 }, 2) },
  { name: 'v3 nc2 m2 s3 L2', g: sampleRules({ vocab: 3, classes: 2, synonyms: 2, tuple: 3, depth: 2 }, 3) },
  { name: 'v5 m2 s2 L3 python', g: sampleRules({ vocab: 5, synonyms: 2, tuple: 2, depth: 3 }, 4, 'python') },
];

/** Noise levels per process: ε for eps/uniform/mask, t/T for gaussian (linear schedule). */
const NOISE: Record<ProcessName, number> = { eps: 0.4, uniform: 0.35, mask: 0.5, gaussian: 0.1 };
const schedule = linearSchedule();

function evidenceFor(g: Grammar, process: ProcessName, count: number, seed: number) {
  const truth = generate(g, count, createRng(seed, 1));
  const p = makeProcess(process, NOISE[process], schedule);
  const lambda = new Float64Array(count * leafCount(g) * g.vocab);
  p.likelihood(p.sample(truth.levels[g.depth], g.vocab, createRng(seed, 2)), g.vocab, lambda);
  return { truth, lambda };
}

/** Random strictly positive soft evidence, unnormalised: the most general input. */
function randomEvidence(g: Grammar, count: number, seed: number): Float64Array {
  const rng = createRng(seed, 3);
  return Float64Array.from({ length: count * leafCount(g) * g.vocab }, () => 0.05 + 3 * rng.nextFloat());
}

describe.each(BACKENDS)('BP backend $backend.name', ({ backend, tolerance }) => {
  describe.each(GRAMMARS)('grammar $name', ({ g }) => {
    const trees = allTrees(g);
    const d = leafCount(g);
    const v = g.vocab;

    const cases: { label: string; lambda: Float64Array; count: number }[] = [
      ...PROCESS_NAMES.map((p) => ({ label: p, ...evidenceFor(g, p, 3, 11), count: 3 })),
      { label: 'random soft evidence', lambda: randomEvidence(g, 3, 12), count: 3 },
    ];

    it.each(cases)('marginals, class posterior and log-evidence equal enumeration ($label)', ({ lambda, count }) => {
      const up = backend.upward(g, lambda, count);
      const mu = backend.marginals(g, up);
      for (let n = 0; n < count; n++) {
        const exact = bruteForcePosterior(g, trees, lambda.subarray(n * d * v, (n + 1) * d * v));
        expect(Math.abs(up.logEvidence[n] - exact.logEvidence)).toBeLessThanOrEqual(tolerance(g.depth) * Math.max(1, Math.abs(exact.logEvidence)));
        for (let l = 0; l <= g.depth; l++) {
          const size = g.tuple ** l * symbolsAt(g, l);
          expect(maxAbsDiff(mu[l].subarray(n * size, (n + 1) * size), exact.marginals[l])).toBeLessThanOrEqual(tolerance(g.depth));
        }
        // The class posterior is also the normalised root upward message (uniform prior).
        const nc = g.classes;
        expect(maxAbsDiff(up.messages[0].subarray(n * nc, (n + 1) * nc), exact.marginals[0])).toBeLessThanOrEqual(tolerance(g.depth));
      }
    });

    it.each(PROCESS_NAMES)('posterior-sample frequencies of whole trees match enumeration within Monte Carlo bounds (%s)', (process) => {
      const { lambda } = evidenceFor(g, process, 1, 21);
      const exact = bruteForcePosterior(g, trees, lambda);
      const K = 10000;
      const up = backend.upward(g, lambda, 1);
      const samples = backend.sample(g, up, createRng(5, 6), K);
      expectTreeFrequencies(trees, exact.treePosterior, samples);
    });
  });

  it('hard evidence that no tree explains raises InconsistentEvidenceError, never NaN', () => {
    const g = GRAMMARS[0].g;
    const trees = allTrees(g);
    const valid = new Set(trees.map((t) => t[g.depth].join(',')));
    // Find a token sequence that does not parse and observe it with no mask.
    const d = leafCount(g);
    let bad: Int32Array | null = null;
    for (let code = 0; code < g.vocab ** d && !bad; code++) {
      const x = Int32Array.from({ length: d }, (_, i) => Math.floor(code / g.vocab ** (d - 1 - i)) % g.vocab);
      if (!valid.has(x.join(','))) bad = x;
    }
    const lambda = new Float64Array(d * g.vocab);
    maskProcess(0).likelihood({ kind: 'tokens', tokens: bad! }, g.vocab, lambda);
    expect(() => backend.upward(g, lambda, 1)).toThrow(InconsistentEvidenceError);
  });

  it('works on a batch larger than one and on data of the v32 m8 s2 grammar without NaN', () => {
    const g = sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: 4 }, 0);
    const { lambda } = evidenceFor(g, 'mask', 7, 31);
    const up = backend.upward(g, lambda, 7);
    const mu = backend.marginals(g, up);
    for (const level of mu) for (const x of level) expect(Number.isFinite(x)).toBe(true);
    expect(up.logEvidence.every(Number.isFinite)).toBe(true);
  });
});
