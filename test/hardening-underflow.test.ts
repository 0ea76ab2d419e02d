/**
 * Issue 14, class 2: soft evidence whose likelihood ratios underflow a float (Gaussian noise at
 * small t/T, the ε-process and uniform noise at tiny ε, float32 kernels at moderate t/T) is exact
 * BP all the same — finite log-evidence, marginals and posterior draws equal to enumeration in
 * the log domain — and never reported as "inconsistent with the grammar". Hard evidence that no
 * grammatical string matches still raises InconsistentEvidenceError.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fast32Backend, fastBackend } from '../src/bp/fast.ts';
import { referenceBackend } from '../src/bp/reference.ts';
import type { BpBackend, UpwardMessages } from '../src/bp/types.ts';
import { InconsistentEvidenceError } from '../src/core/errors.ts';
import { createRng } from '../src/core/random.ts';
import { runCell } from '../src/experiment/forwardBackward.ts';
import { summariseCells } from '../src/experiment/summary.ts';
import { generate } from '../src/grammar/generate.ts';
import type { Grammar } from '../src/grammar/grammar.ts';
import { leafCount, symbolsAt } from '../src/grammar/params.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { epsProcess, leafLogLikelihood, makeProcess, maskProcess, MASK, type NoiseProcess } from '../src/noise/process.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { allTrees } from './bruteForce.ts';
import { maxAbsDiff } from './helpers/arrays.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const schedule = linearSchedule();
const BACKENDS: BpBackend[] = [referenceBackend, fastBackend, fast32Backend];
/** Float64 backends (and float32 data redone in float64) against log-domain enumeration. */
const EXACT = 1e-9;
/** float32 values of a float64 result. */
const F32 = 1e-6;

/** Enumeration in the log domain: every tree's log weight −log P_max + Σ_i log λ_i(x_i). */
function bruteForceLog(g: Grammar, trees: Int32Array[][], logLambda: ArrayLike<number>, offset = 0) {
  const v = g.vocab;
  const lw = trees.map((levels) => {
    let w = -Math.log(trees.length);
    const leaves = levels[g.depth];
    for (let i = 0; i < leaves.length; i++) w += logLambda[offset + i * v + leaves[i]];
    return w;
  });
  const max = Math.max(...lw);
  const logEvidence = max === -Infinity ? -Infinity : max + Math.log(lw.reduce((acc, w) => acc + Math.exp(w - max), 0));
  const post = lw.map((w) => Math.exp(w - logEvidence));
  const marginals = Array.from({ length: g.depth + 1 }, (_, l) => new Float64Array(g.tuple ** l * symbolsAt(g, l)));
  trees.forEach((levels, t) => {
    for (let l = 0; l <= g.depth; l++) levels[l].forEach((a, i) => (marginals[l][i * symbolsAt(g, l) + a] += post[t]));
  });
  return { logEvidence, marginals, post };
}

/** λ and log λ of `count` observations of clean tokens x0 under a process. */
function evidence(p: NoiseProcess, g: Grammar, x0: Int32Array, seed: number): { lambda: Float64Array; logLambda: Float64Array; count: number } {
  const obs = p.sample(x0, g.vocab, createRng(seed, 7));
  const lambda = new Float64Array(x0.length * g.vocab);
  const logLambda = new Float64Array(x0.length * g.vocab);
  p.likelihood(obs, g.vocab, lambda);
  leafLogLikelihood(p, obs, g.vocab, logLambda);
  return { lambda, logLambda, count: x0.length / leafCount(g) };
}

/** The grammar of the example (v 8, m 2, depth 3: 1024 trees) and one with s = 3. */
const G8 = sampleRules({ vocab: 8, synonyms: 2, tuple: 2, depth: 3 }, 1);
const G3 = sampleRules({ vocab: 4, classes: 3, synonyms: 2, tuple: 3, depth: 2 }, 5);

/** `count` token strings no tree produces: all zeros first (the example) when it is one, then random ones. */
function nonGrammatical(g: Grammar, count: number): Int32Array {
  const d = leafCount(g);
  const trees = allTrees(g);
  const grammatical = (x: Int32Array): boolean => trees.some((t) => t[g.depth].every((b, i) => b === x[i]));
  const out = new Int32Array(count * d);
  let n = 0;
  if (!grammatical(new Int32Array(d))) n = 1;
  const rng = createRng(99);
  while (n < count) {
    const x = Int32Array.from({ length: d }, () => rng.nextInt(g.vocab));
    if (!grammatical(x)) out.set(x, d * n++);
  }
  return out;
}

interface Case {
  label: string;
  g: Grammar;
  process: NoiseProcess;
}
const CASES: Case[] = [
  ...[0.001, 0.003, 0.008, 0.03].map((t) => ({ label: `gaussian t/T=${t}`, g: G8, process: makeProcess('gaussian', t, schedule) })),
  { label: 'gaussian t/T=0.001 (s=3)', g: G3, process: makeProcess('gaussian', 0.001, schedule) },
  ...[1e-30, 1e-200, 1e-320].map((eps) => ({ label: `eps ε=${eps}`, g: G8, process: epsProcess(eps) })),
  { label: 'uniform ε=1e-250 (s=3)', g: G3, process: makeProcess('uniform', 1e-250) },
];

describe.each(BACKENDS)('backend $name on underflowing soft evidence', (backend) => {
  it.each(CASES)('finite log-evidence, marginals and draws equal log-domain enumeration ($label)', ({ g, process }) => {
    const trees = allTrees(g);
    const d = leafCount(g);
    const x0 = nonGrammatical(g, 3);
    const { lambda, logLambda, count } = evidence(process, g, x0, 3);
    const up = backend.upward(g, lambda, count, logLambda);
    const mu = backend.marginals(g, up);
    const draws = backend.sample(g, up, createRng(4), 5);
    const tol = backend === fast32Backend ? F32 : EXACT;
    for (let n = 0; n < count; n++) {
      const bf = bruteForceLog(g, trees, logLambda, n * d * g.vocab);
      expect(Number.isFinite(bf.logEvidence)).toBe(true);
      expect(Math.abs(up.logEvidence[n] - bf.logEvidence)).toBeLessThan(EXACT * Math.max(1, Math.abs(bf.logEvidence)));
      for (let l = 0; l <= g.depth; l++) {
        const size = g.tuple ** l * symbolsAt(g, l);
        expect(maxAbsDiff(mu[l].subarray(n * size, (n + 1) * size), bf.marginals[l])).toBeLessThan(tol);
      }
      // Every drawn tree has posterior weight (a tree the evidence rules out is never drawn).
      for (let t = 0; t < 5; t++) {
        const row = n * 5 + t;
        const idx = trees.findIndex((tr) => tr.every((lv, l) => lv.every((a, i) => a === draws.levels[l][row * g.tuple ** l + i])));
        expect(idx).toBeGreaterThanOrEqual(0);
        expect(bf.post[idx]).toBeGreaterThan(1e-12);
      }
    }
  });

  it('hard evidence that no grammatical string matches still raises InconsistentEvidenceError', () => {
    for (const g of [G8, G3]) {
      const x0 = nonGrammatical(g, 2);
      for (const p of [maskProcess(0), epsProcess(0)]) {
        const obs = { kind: 'tokens' as const, tokens: x0 };
        const lambda = new Float64Array(x0.length * g.vocab);
        const logLambda = new Float64Array(x0.length * g.vocab);
        p.likelihood(obs, g.vocab, lambda);
        leafLogLikelihood(p, obs, g.vocab, logLambda);
        expect(() => backend.upward(g, lambda, 2, logLambda)).toThrow(InconsistentEvidenceError);
        expect(() => backend.upward(g, lambda, 2)).toThrow(InconsistentEvidenceError);
      }
      // A masked leaf is no evidence, a visible one is hard: two visible leaves no rule joins.
      const masked = x0.slice(0, leafCount(g)).fill(MASK);
      expect(() => backend.upward(g, new Float64Array(leafCount(g) * g.vocab), 1)).toThrow(InconsistentEvidenceError);
      expect(masked.length).toBe(leafCount(g));
    }
  });

  it('without logLambda, log λ of the floats given is exact for those floats (tiny but representable ratios)', () => {
    const g = G8;
    const trees = allTrees(g);
    const x0 = nonGrammatical(g, 2);
    const { lambda, count } = evidence(epsProcess(1e-150), g, x0, 5);
    const up = backend.upward(g, lambda, count);
    for (let n = 0; n < count; n++) {
      const logOf = Array.from(lambda.subarray(n * leafCount(g) * g.vocab, (n + 1) * leafCount(g) * g.vocab), Math.log);
      const bf = bruteForceLog(g, trees, logOf);
      expect(Math.abs(up.logEvidence[n] - bf.logEvidence)).toBeLessThan(EXACT * Math.abs(bf.logEvidence));
    }
  });
});

describe('fast backends agree with the reference on underflowing evidence', () => {
  it('float64 fast draws the same trees as the reference; float32 redoes the lost data in float64', () => {
    const g = G8;
    const x0 = nonGrammatical(g, 3);
    for (const t of [0.001, 0.03]) {
      const { lambda, logLambda, count } = evidence(makeProcess('gaussian', t, schedule), g, x0, 8);
      const ref = referenceBackend.upward(g, lambda, count, logLambda);
      const refDraws = referenceBackend.sample(g, ref, createRng(9), 4);
      for (const b of [fastBackend, fast32Backend]) {
        const up: UpwardMessages = b.upward(g, lambda, count, logLambda);
        expect(maxAbsDiff(up.logEvidence, ref.logEvidence)).toBeLessThan(1e-9 * 4000);
        const draws = b.sample(g, up, createRng(9), 4);
        draws.levels.forEach((lv, l) => expect(Array.from(lv)).toEqual(Array.from(refDraws.levels[l])));
      }
    }
  });

  it('fast32 at t/T = 0.03 on non-grammatical tokens: no NaN marginals (the lost data redone in float64)', () => {
    const g = G8;
    const x0 = nonGrammatical(g, 3);
    const { lambda, logLambda, count } = evidence(makeProcess('gaussian', 0.03, schedule), g, x0, 10);
    const ref = referenceBackend.marginals(g, referenceBackend.upward(g, lambda, count, logLambda));
    for (const withLog of [true, false]) {
      const up = fast32Backend.upward(g, lambda, count, withLog ? logLambda : undefined);
      const mu = fast32Backend.marginals(g, up);
      for (const level of mu) for (const x of level) expect(Number.isFinite(x)).toBe(true);
      mu.forEach((level, l) => expect(maxAbsDiff(level, ref[l])).toBeLessThan(F32));
      expect(up.logDomain?.size).toBe(count);
    }
  });

  it.each([fastBackend, fast32Backend])('$name batch equals reference upward + marginals + sample (λ and token paths)', (backend) => {
    const g = G8;
    const d = leafCount(g);
    const count = 5;
    const x0 = nonGrammatical(g, count);
    const truth = generate(g, count, createRng(12));
    const processes: NoiseProcess[] = [makeProcess('gaussian', 0.002, schedule), makeProcess('gaussian', 0.03, schedule), epsProcess(1e-300)];
    for (const p of processes) {
      const obs = p.sample(x0, g.vocab, createRng(13));
      const lambda = new Float64Array(count * d * g.vocab);
      const logLambda = new Float64Array(count * d * g.vocab);
      p.likelihood(obs, g.vocab, lambda);
      leafLogLikelihood(p, obs, g.vocab, logLambda);
      const ref = referenceBackend.upward(g, lambda, count, logLambda);
      const refMu = referenceBackend.marginals(g, ref);
      const refDraws = referenceBackend.sample(g, ref, createRng(14), 3);
      const slice = (start: number, end: number) =>
        obs.kind === 'tokens'
          ? { kind: 'tokens' as const, tokens: obs.tokens.subarray(start * d, end * d) }
          : { kind: 'vectors' as const, vectors: obs.vectors.subarray(start * d * g.vocab, end * d * g.vocab) };
      const r = backend.batch(g, {
        count,
        likelihood: (start, end, out) => p.likelihood(slice(start, end), g.vocab, out),
        logLikelihood: (start, end, out) => leafLogLikelihood(p, slice(start, end), g.vocab, out),
        rng: createRng(14),
        trajectories: 3,
        truth,
        tokenEvidence: p.tokenEvidence?.(obs, g.vocab) ?? null,
      });
      expect(maxAbsDiff(r.logEvidence, ref.logEvidence)).toBeLessThan(1e-9 * 4000);
      expect(maxAbsDiff(r.rootPosterior, ref.messages[0])).toBeLessThan(F32);
      r.posterior.levels.forEach((lv, l) => expect(Array.from(lv)).toEqual(Array.from(refDraws.levels[l])));
      for (let n = 0; n < count; n++) {
        for (let l = 0; l <= g.depth; l++) {
          const w = g.tuple ** l;
          const N = symbolsAt(g, l);
          let kept = 0;
          for (let i = 0; i < w; i++) kept += refMu[l][(n * w + i) * N + truth.levels[l][n * w + i]];
          expect(Math.abs(r.levelMarginalKept![n * (g.depth + 1) + l] - kept / w)).toBeLessThan(F32);
        }
      }
    }
  });
});

describe('forward-backward cells at near-hard evidence on every backend', () => {
  it.each(BACKENDS)('$name: moments stay within [0, count] (float32 round-off above 1 is clamped) and summarise', (backend) => {
    for (const [process, noise] of [
      ['gaussian', 0.001],
      ['uniform', 1e-300],
      ['eps', 1e-300],
    ] as const) {
      const stats = runCell(G8, { grammarSeed: 0, depth: 3, process, noise }, { samples: 50, trajectories: 2, schedule, backend });
      for (const m of [stats.classMarginal, ...stats.levelMarginal]) {
        expect(m.sum).toBeLessThanOrEqual(m.count);
        expect(m.sumSq).toBeLessThanOrEqual(m.count);
      }
      expect(summariseCells([stats])[0].classKept).toBeGreaterThan(0.99);
    }
  });
});

describe('CLI: posterior on underflowing Gaussian evidence (real binary)', () => {
  const dir = tempDir('hierdiff-underflow-');

  it('t/T = 0.001 on 0,0,0,0,0,0,0,0 gives the finite log-evidence of enumeration, not "inconsistent"', () => {
    expect(runCli(['grammar', '--vocab', '8', '--synonyms', '2', '--depth', '3', '--seed', '1', '--out', 'g.json'], dir).code).toBe(0);
    const g = G8;
    const trees = allTrees(g);
    for (const t of [0.001, 0.008]) {
      const out = `p${t}.json`;
      const r = runCli(['posterior', '--grammar', 'g.json', '--seed', '1', '--process', 'gaussian', '--noise-level', String(t), '--tokens', '0,0,0,0,0,0,0,0', '--out', out], dir);
      expect(r.stderr).toBe(`wrote ${out}\n`);
      expect(r.code).toBe(0);
      const json = JSON.parse(readFileSync(join(dir, out), 'utf8')) as { logEvidence: number; levels: number[][][] };
      // The same observation as the CLI draws (stream 11 of the seed), enumerated in the log domain.
      const p = makeProcess('gaussian', t, schedule);
      const obs = p.sample(new Int32Array(8), 8, createRng(1, 11));
      const logLambda = new Float64Array(64);
      leafLogLikelihood(p, obs, 8, logLambda);
      const bf = bruteForceLog(g, trees, logLambda);
      expect(Math.abs(json.logEvidence - bf.logEvidence)).toBeLessThan(1e-9 * Math.abs(bf.logEvidence));
      json.levels.forEach((nodes, l) => expect(maxAbsDiff(nodes.flat(), bf.marginals[l])).toBeLessThan(EXACT));
    }
  });

  it('hard evidence no grammatical string matches still exits 2 with one line', () => {
    const r = runCli(['posterior', '--grammar', 'g.json', '--process', 'mask', '--noise-level', '0.5', '--tokens', '0,0,0,0,0,0,0,0'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/inconsistent with the grammar/);
  });
});
