import { describe, expect, it } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { PythonRandom } from '../src/core/pythonRandom.ts';
import { createRng } from '../src/core/random.ts';
import { decodeIndex, pMax } from '../src/grammar/count.ts';
import { generate } from '../src/grammar/generate.ts';
import type { Grammar } from '../src/grammar/grammar.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { symbolsAt } from '../src/grammar/params.ts';
import { MASK } from '../src/noise/process.ts';
import { BpOracleModel } from '../src/learn/bpOracle.ts';
import { ownDataset, publishedDataset, pythonRandbelow, pythonSampleRange, tokensOfIndices, trainingDataset } from '../src/learn/data.ts';
import { copies, ruleFrequencies, validity } from '../src/learn/evaluate.ts';
import type { LogitsModel } from '../src/learn/logitsModel.ts';
import { noiseTo, sampleFromModel } from '../src/learn/sampling.ts';
import { discreteSchedule } from '../src/learn/schedule.ts';
import { monteCarloTolerance } from './tolerance.ts';

// The published example grammar (docs/science.md §7): v = n_c = 8, m = 3, s = 2, L = 3, rules seed 42.
const g = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 3 }, 42, 'python');
const d = 8;
const schedule = discreteSchedule();

/** Exact P(node of layer ℓ′ valid) for uniformly random tokens: the upward sweep of 0/1 rule factors. */
function randomValidity(gr: Grammar): number[] {
  const { vocab: v, synonyms: m, tuple: s, depth: L } = gr;
  let q = new Array<number>(v).fill(1 / v);
  const out: number[] = [];
  for (let level = L - 1; level >= 0; level--) {
    const next = new Array<number>(symbolsAt(gr, level)).fill(0);
    for (let a = 0; a < next.length; a++) {
      for (let k = 0; k < m; k++) {
        let w = 1;
        for (let j = 0; j < s; j++) w *= q[gr.rules[level][(a * m + k) * s + j]];
        next[a] += w;
      }
    }
    out.push(next.reduce((x, y) => x + y, 0));
    q = next;
  }
  return out; // layers 1 … L
}

/** A denoiser with no knowledge: constant logits, i.e. x̂_0 uniform. */
function constantModel(process: 'uniform' | 'mask'): LogitsModel {
  return { vocab: 8, length: d, process, logits: async (_x, _t, n) => new Float32Array(n * 8 * d) };
}

describe('validity (docs/science.md §7 test vector)', () => {
  it('uniformly random tokens give ≈ 0.376, 0.0527, 0.00105 per layer', () => {
    const exact = randomValidity(g);
    // f = m·v/v^s = 0.375 at every level, so layer ℓ′ is valid with probability f^(2^ℓ′ − 1).
    expect(exact[0]).toBeCloseTo(0.375, 12);
    expect(exact[1]).toBeCloseTo(0.375 ** 3, 12);
    expect(exact[2]).toBeCloseTo(0.375 ** 7, 12);
    [0.376, 0.0527, 0.00105].forEach((doc, i) => expect(Math.abs(exact[i] / doc - 1)).toBeLessThan(0.01));
    const N = 100_000;
    const rng = createRng(11);
    const tokens = new Int32Array(N * d);
    for (let i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(8);
    const r = validity(g, tokens);
    expect(r.count).toBe(N);
    // Layer ℓ′ has 2^(L−ℓ′) nodes per sample, independent (disjoint subtrees of random tokens).
    r.validByLayer.forEach((x, i) => expect(Math.abs(x - exact[i])).toBeLessThan(monteCarloTolerance(exact[i], N * 2 ** (2 - i))));
    expect(r.fullyValid).toBe(r.validByLayer[2]);
  });

  it('true data are valid at every layer', () => {
    const r = validity(g, generate(g, 2000, createRng(3)).levels[3]);
    expect(r).toEqual({ count: 2000, validByLayer: [1, 1, 1], fullyValid: 1 });
  });

  it('refuses a token array that is not whole samples', () => {
    expect(() => validity(g, new Int32Array(7))).toThrow(ParamError);
    expect(() => validity(g, new Int32Array(0))).toThrow(ParamError);
  });
});

describe('sampling from the exact BP denoiser', () => {
  it('uniform, reverse target, T = 200: ≈ valid samples; the bare posterior target is not', async () => {
    const reverse = await sampleFromModel(new BpOracleModel(g, 'uniform', schedule, 'reverse'), schedule, { count: 400, rng: createRng(21), batch: 400 });
    const r = validity(g, reverse);
    // A perfect model samples x_0 = data noised with ᾱ_0 = 0.999: P(no token changed) =
    // (1 − 0.001·7/8)^8 = 0.9930; measured 0.9913 on 4000 samples (0.970 with T = 25).
    expect(r.fullyValid).toBeGreaterThan(0.96);
    expect(r.validByLayer[0]).toBeGreaterThan(0.99);
    // E[x_0 | x_t] in place of the trained target keeps wrong tokens: far from valid (measured ≈ 0.18).
    const posterior = await sampleFromModel(new BpOracleModel(g, 'uniform', schedule, 'posterior'), schedule, { count: 200, rng: createRng(21), batch: 200 });
    expect(validity(g, posterior).fullyValid).toBeLessThan(0.5);
  });

  it('mask, T = 200: ≈ valid; the deficit comes from tokens revealed together and grows with the step size', async () => {
    const oracle = new BpOracleModel(g, 'mask', schedule, 'posterior');
    const x = await sampleFromModel(oracle, schedule, { count: 400, rng: createRng(22), batch: 400 });
    expect(x.every((b) => b >= 0 && b < 8)).toBe(true);
    const fine = validity(g, x).fullyValid;
    // Measured on 4000 samples: 0.967 at T = 200, 0.982 at T = 1000, 0.851 at T = 25.
    expect(fine).toBeGreaterThan(0.93);
    // Two tokens revealed in one step are drawn independently from their marginals and may not
    // form a rule; with 25 steps many more are revealed together.
    const short = discreteSchedule({ steps: 25 });
    const coarse = validity(g, await sampleFromModel(new BpOracleModel(g, 'mask', short, 'posterior'), short, { count: 400, rng: createRng(22), batch: 400 })).fullyValid;
    expect(coarse).toBeLessThan(fine);
    // The reverse target is the posterior for mask: the same samples.
    const same = await sampleFromModel(new BpOracleModel(g, 'mask', short, 'reverse'), short, { count: 50, rng: createRng(23) });
    expect(same).toEqual(await sampleFromModel(new BpOracleModel(g, 'mask', short, 'posterior'), short, { count: 50, rng: createRng(23) }));
  });

  it('does not depend on the batch size', async () => {
    const short = discreteSchedule({ steps: 20 });
    const oracle = new BpOracleModel(g, 'uniform', short, 'reverse');
    const a = await sampleFromModel(oracle, short, { count: 30, rng: createRng(5), batch: 30 });
    const b = await sampleFromModel(oracle, short, { count: 30, rng: createRng(5), batch: 7 });
    expect(a).toEqual(b);
  });

  it('a model with constant logits gives the random-token baseline', async () => {
    const exact = randomValidity(g);
    const N = 2000;
    for (const process of ['uniform', 'mask'] as const) {
      const r = validity(g, await sampleFromModel(constantModel(process), schedule, { count: N, rng: createRng(31), batch: 1000 }));
      r.validByLayer.forEach((x, i) => expect(Math.abs(x - exact[i])).toBeLessThan(monteCarloTolerance(exact[i], N * 2 ** (2 - i))));
    }
  });

  it('refuses tokens that do not fit the model', async () => {
    const m = constantModel('uniform');
    await expect(sampleFromModel(m, schedule, { count: 2, rng: createRng(1), from: { tokens: new Int32Array(8), t: 3 } })).rejects.toThrow(ParamError);
    await expect(sampleFromModel(m, schedule, { count: 1, rng: createRng(1), from: { tokens: new Int32Array(8).fill(MASK), t: 3 } })).rejects.toThrow(ParamError);
    await expect(sampleFromModel(m, schedule, { count: 1, rng: createRng(1), from: { tokens: new Int32Array(8), t: 201 } })).rejects.toThrow(ParamError);
  });
});

describe('forward–backward with the exact denoiser', () => {
  const x0 = generate(g, 200, createRng(41)).levels[3];
  const agreement = (a: Int32Array, b: Int32Array) => a.filter((x, i) => x === b[i]).length / a.length;

  it('noiseTo corrupts a fraction 1 − ᾱ_t of the tokens', () => {
    const big = generate(g, 5000, createRng(42)).levels[3];
    const t = 30;
    const eps = 1 - schedule.alphaBar[t];
    const u = noiseTo('uniform', big, t, schedule, createRng(43), 8);
    expect(Math.abs(1 - agreement(u, big) - eps * (7 / 8))).toBeLessThan(monteCarloTolerance(eps * (7 / 8), big.length));
    const m = noiseTo('mask', big, t, schedule, createRng(43), 8);
    expect(Math.abs(m.filter((b) => b === MASK).length / m.length - eps)).toBeLessThan(monteCarloTolerance(eps, big.length));
    expect(m.every((b, i) => b === MASK || b === big[i])).toBe(true);
  });

  for (const process of ['uniform', 'mask'] as const) {
    it(`${process}: small t keeps almost every token, t = T gives fresh valid samples`, async () => {
      const oracle = new BpOracleModel(g, process, schedule, 'reverse');
      const rng = createRng(process === 'uniform' ? 44 : 45);
      const small = await sampleFromModel(oracle, schedule, { count: 200, from: { tokens: noiseTo(process, x0, 5, schedule, rng, 8), t: 5 }, rng });
      expect(agreement(small, x0)).toBeGreaterThan(0.99);
      expect(validity(g, small).fullyValid).toBeGreaterThan(0.95);
      const T = schedule.steps;
      const fresh = await sampleFromModel(oracle, schedule, { count: 200, from: { tokens: noiseTo(process, x0, T, schedule, rng, 8), t: T }, rng });
      expect(validity(g, fresh).fullyValid).toBeGreaterThan(0.9);
      expect(copies(fresh, x0, d)).toBeLessThan(0.05); // the originals are forgotten
      expect(agreement(fresh, x0)).toBeLessThan(0.5);
    });
  }
});

describe('publishedDataset (docs/science.md §7, "Data")', () => {
  it('reproduces CPython: random.seed(1); random.sample(range(17496), 2048)', () => {
    expect(pMax(g)).toBe(17496n);
    const ds = publishedDataset(g, 1, 1024, 1024);
    // Vectors from CPython 3.11.
    expect(ds.trainIndices.slice(0, 8)).toEqual([4402, 2067, 8358, 3863, 16234, 14728, 15474, 12439]);
    expect(ds.testIndices.slice(-4)).toEqual([1723, 14863, 4971, 10539]);
    expect([...ds.trainIndices, ...ds.testIndices].reduce((a, b) => a + b, 0)).toBe(18066854);
    expect(ds.train.length).toBe(1024 * d);
    expect(ds.test.length).toBe(1024 * d);
    // Deterministic, no duplicates, train and test disjoint.
    expect(publishedDataset(g, 1, 1024, 1024)).toEqual(ds);
    const all = new Set([...ds.trainIndices, ...ds.testIndices]);
    expect(all.size).toBe(2048);
    // Decoded with the published indexing, and valid.
    expect(ds.train.subarray(5 * d, 6 * d)).toEqual(decodeIndex(g, BigInt(ds.trainIndices[5])).levels[3]);
    expect(validity(g, ds.train).fullyValid).toBe(1);
    expect(validity(g, ds.test).fullyValid).toBe(1);
    expect(copies(ds.test, ds.train, d)).toBe(0);
    expect(copies(ds.train, ds.train, d)).toBe(1);
  });

  it('samples ranges like CPython in both methods and past 32 bits', () => {
    // random.seed(s); random.sample(range(n), k), CPython 3.11.
    expect(pythonSampleRange(new PythonRandom(5), 32, 10)).toEqual([16, 23, 11, 25, 22, 26, 30, 20, 31, 0]); // pool (32 ≤ 85)
    expect(pythonSampleRange(new PythonRandom(5), 32, 4)).toEqual([16, 22, 1, 29]); // set (k ≤ 5: setsize 21)
    expect(pythonSampleRange(new PythonRandom(3), 2 ** 40, 10)).toEqual([
      285805288266, 1041975902461, 1034389053353, 421913238835, 873924282544, 507453033541, 333439187583, 856945538096, 33248423577, 348167363921,
    ]);
    expect(pythonSampleRange(new PythonRandom(9), 2 ** 40 + 12345, 3)).toEqual([585718914800, 408616915370, 743056980560]);
    expect(pythonSampleRange(new PythonRandom(2 ** 40 + 7), 2 ** 52 + 3, 5)).toEqual([2259403949877610, 3271002939367115, 3990004831840993, 3353772015322868, 4005391556896215]);
    // Below 2^32 it is the existing port's sample() on the materialised range, in both branches.
    for (const [n, k] of [
      [30, 12],
      [100, 3],
      [1000, 200],
      [85, 10],
      [86, 10],
    ] as const) {
      const list = Array.from({ length: n }, (_, i) => i);
      expect(pythonSampleRange(new PythonRandom(n + k), n, k)).toEqual(new PythonRandom(n + k).sample(list, k));
    }
    expect(pythonRandbelow(new PythonRandom(0), 1)).toBe(0);
  });

  it('refuses P_max ≥ 2^53 and more data than exist, in one line', () => {
    const huge = sampleRules({ vocab: 32, synonyms: 32, tuple: 2, depth: 4 }, 0);
    expect(pMax(huge)).toBe(2n ** 80n);
    expect(() => publishedDataset(huge, 0, 10, 10)).toThrow(ParamError);
    const tiny = sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 1);
    expect(pMax(tiny)).toBe(32n);
    expect(() => publishedDataset(tiny, 0, 30, 3)).toThrow(ParamError);
    try {
      publishedDataset(tiny, 0, 30, 3);
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
    // The whole set is allowed: a permutation of range(32) by the pool method.
    const whole = publishedDataset(tiny, 0, 20, 12);
    expect(new Set([...whole.trainIndices, ...whole.testIndices]).size).toBe(32);
    expect(tokensOfIndices(tiny, whole.testIndices)).toEqual(whole.test);
  });
});

describe('trainingDataset: the published sampling where it applies, our own generator past 2^53 (issue 23)', () => {
  it('below 2^53 it is the published sampling, byte for byte', () => {
    const ds = trainingDataset(g, 1, 1024, 1024);
    expect(ds.sampler).toBe('python');
    const { sampler: _sampler, ...rest } = ds;
    expect(rest).toEqual(publishedDataset(g, 1, 1024, 1024));
  });

  it('past 2^53 (v = 32, m = 8, L = 6) it draws distinct, disjoint, valid data with our own generator', () => {
    const deep = sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: 6 }, 42, 'python');
    expect(pMax(deep) >= 2n ** 53n).toBe(true);
    const ds = trainingDataset(deep, 0, 300, 100);
    expect(ds.sampler).toBe('own');
    const D = 64;
    expect(ds.train.length).toBe(300 * D);
    expect(ds.test.length).toBe(100 * D);
    const all = [...ds.trainIndices, ...ds.testIndices] as string[];
    expect(new Set(all).size).toBe(400);
    for (const index of all) expect(BigInt(index) < pMax(deep)).toBe(true);
    // Each row is its index's datum in the published indexing.
    expect(ds.train.subarray(7 * D, 8 * D)).toEqual(decodeIndex(deep, BigInt(ds.trainIndices[7])).levels[6]);
    expect(ds.test.subarray(99 * D)).toEqual(decodeIndex(deep, BigInt(ds.testIndices[99])).levels[6]);
    expect(validity(deep, ds.train).fullyValid).toBe(1);
    expect(copies(ds.test, ds.train, D)).toBe(0);
    // Seeded: the same seed gives the same sets, another seed others.
    expect(trainingDataset(deep, 0, 300, 100)).toEqual(ds);
    expect(trainingDataset(deep, 1, 300, 100).trainIndices[0]).not.toBe(ds.trainIndices[0]);
    expect(() => publishedDataset(deep, 0, 300, 100)).toThrow(/at least 2\^53/);
  });

  it('draws without replacement up to the whole set, and refuses more', () => {
    const tiny = sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 1);
    const whole = ownDataset(tiny, 3, 20, 12);
    expect(new Set([...whole.trainIndices, ...whole.testIndices]).size).toBe(32);
    expect(tokensOfIndices(tiny, whole.testIndices.map(BigInt))).toEqual(whole.test);
    expect(() => ownDataset(tiny, 0, 30, 3)).toThrow(ParamError);
  });
});

describe('copies and rule frequencies', () => {
  it('copies counts samples equal to some training row', () => {
    const train = Int32Array.from([0, 1, 2, 3, 3, 2, 1, 0]);
    const samples = Int32Array.from([3, 2, 1, 0, 0, 1, 2, 4, 0, 1, 2, 3, 0, 1, 2, 3]);
    expect(copies(samples, train, 4)).toBe(3 / 4);
    expect(copies(Int32Array.from([1, 1, 1, 1]), train, 4)).toBe(0);
    expect(() => copies(samples, Int32Array.from([1, 2, 3]), 4)).toThrow(ParamError);
  });

  it('counts the rules of valid nodes, near uniform for true data', () => {
    // Datum 0 of the published indexing: class 0, rule 0 everywhere.
    const one = ruleFrequencies(g, decodeIndex(g, 0n).levels[3]);
    expect(one.map((u) => [u.layer, u.level, u.validNodes])).toEqual([
      [1, 2, 4],
      [2, 1, 2],
      [3, 0, 1],
    ]);
    for (const u of one) {
      expect(u.counts.reduce((a, b) => a + b, 0)).toBe(u.validNodes);
      u.counts.forEach((c, r) => expect(c === 0 || r % 3 === 0).toBe(true));
      expect(u.klFromUniform).toBeCloseTo(Math.log(3), 12);
      expect(u.maxDeviation).toBeCloseTo(2 / 3, 12);
    }
    expect(one[2].counts[0]).toBe(1); // the root: class 0, rule 0
    const N = 3000;
    const freq = ruleFrequencies(g, generate(g, N, createRng(7)).levels[3]);
    freq.forEach((u, i) => {
      expect(u.validNodes).toBe(N * 2 ** (2 - i));
      expect(u.rulesUsed).toBe(24);
      expect(u.klFromUniform).toBeLessThan(0.01); // finite-sample bias ≈ 2·8/(2·validNodes) ≤ 0.003
      expect(u.maxDeviation).toBeLessThan(0.1);
    });
    // JSON-able.
    expect(JSON.parse(JSON.stringify(freq))).toEqual(freq);
    // Data that always pick rule 0 (datum 0 and 3^7, class 1's first) are maximally skewed.
    const skewed = ruleFrequencies(g, tokensOfIndices(g, [0, 3n ** 7n]));
    expect(skewed[2].counts.slice(0, 6)).toEqual([1, 0, 0, 1, 0, 0]);
    expect(skewed[2].klFromUniform).toBeCloseTo(Math.log(3), 12);
  });
});
