import { describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { ParamError } from '../src/core/errors.ts';
import { cosineSchedule, linearSchedule, respace, alphaBarAtFraction } from '../src/noise/schedule.ts';
import { epsProcess, gaussianProcess, makeProcess, maskProcess, MASK, uniformProcess, resolveProcess, PROCESS_STREAM_IDS } from '../src/noise/process.ts';
import { noiseKey, parseNoiseGrid } from '../src/noise/level.ts';
import { monteCarloTolerance, standardErrorTolerance } from './tolerance.ts';

describe('schedules (docs/science.md §3; t = 0 is clean)', () => {
  it('linear ᾱ matches guided-diffusion at its indices 100, 201, 301, 502, 999 (our t = index + 1)', () => {
    const s = linearSchedule();
    expect(s.alphaBar[0]).toBe(1);
    const expected = [0.8951, 0.6537, 0.3916, 0.0762, 4.0e-5];
    [100, 201, 301, 502, 999].forEach((i, k) => expect(s.alphaBar[i + 1]).toBeCloseTo(expected[k], i === 999 ? 6 : 4));
    expect(s.betas[1]).toBe(1e-4);
    expect(s.betas[1000]).toBe(0.02);
    expect(s.sqrtOneMinusAlphaBar[500] ** 2 + s.sqrtAlphaBar[500] ** 2).toBeCloseTo(1, 14);
  });

  it('cosine ᾱ follows its closed form and β is clipped at 0.999', () => {
    const s = cosineSchedule(1000);
    const f = (t: number) => Math.cos(((t / 1000 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [1, 250, 500, 900]) expect(s.alphaBar[t]).toBeCloseTo(f(t) / f(0), 12);
    expect(Math.max(...s.betas)).toBeLessThanOrEqual(0.999);
    expect(s.betas[1000]).toBe(0.999);
  });

  it('respacing to 250 keeps indices 0, 4, 8, …, 995, 999 and the parent ᾱ there', () => {
    const parent = linearSchedule();
    const r = respace(parent, 250);
    const indices = Array.from(r.originalT!.subarray(1), (t) => t - 1);
    expect(indices.slice(0, 4)).toEqual([0, 4, 8, 12]);
    expect(indices.slice(-2)).toEqual([995, 999]);
    for (let k = 1; k <= 250; k++) expect(r.alphaBar[k]).toBeCloseTo(parent.alphaBar[r.originalT![k]], 14);
  });

  it('maps a time fraction to ᾱ_t with t = round(fraction·T)', () => {
    const s = linearSchedule();
    expect(alphaBarAtFraction(s, 0.1)).toBe(s.alphaBar[100]);
    expect(() => alphaBarAtFraction(s, 1.5)).toThrow(ParamError);
  });
});

describe('noise processes (docs/science.md §3)', () => {
  const v = 8;
  const n = 40000;
  const x0 = Int32Array.from({ length: n }, (_, i) => (i * 5) % v);

  it('eps process leaves tokens alone and gives (1−ε)·1[b=x]+ε/v', () => {
    const p = epsProcess(0.3);
    const obs = p.sample(x0, v, createRng(1));
    expect(obs.kind === 'tokens' && Array.from(obs.tokens.subarray(0, 20))).toEqual(Array.from(x0.subarray(0, 20)));
    const lam = new Float64Array(2 * v);
    p.likelihood({ kind: 'tokens', tokens: Int32Array.of(3, 0) }, v, lam);
    expect(lam[3]).toBeCloseTo(0.7 + 0.3 / 8, 15);
    expect(lam[4]).toBeCloseTo(0.3 / 8, 15);
  });

  it('uniform substitution changes a token with probability ε(1 − 1/v)', () => {
    const eps = 0.4;
    const obs = uniformProcess(eps).sample(x0, v, createRng(2));
    if (obs.kind !== 'tokens') throw new Error('tokens expected');
    const changed = obs.tokens.reduce((a, x, i) => a + (x !== x0[i] ? 1 : 0), 0) / n;
    const p = eps * (1 - 1 / v);
    expect(Math.abs(changed - p)).toBeLessThanOrEqual(monteCarloTolerance(p, n));
  });

  it('masking masks with probability ε; visible tokens are hard evidence, masked ones flat', () => {
    const eps = 0.3;
    const obs = maskProcess(eps).sample(x0, v, createRng(3));
    if (obs.kind !== 'tokens') throw new Error('tokens expected');
    const masked = obs.tokens.reduce((a, x) => a + (x === MASK ? 1 : 0), 0) / n;
    expect(Math.abs(masked - eps)).toBeLessThanOrEqual(monteCarloTolerance(eps, n));
    obs.tokens.forEach((x, i) => {
      if (x !== MASK) expect(x).toBe(x0[i]);
    });
    const lam = new Float64Array(2 * v);
    maskProcess(eps).likelihood({ kind: 'tokens', tokens: Int32Array.of(MASK, 5) }, v, lam);
    expect(Array.from(lam.subarray(0, v))).toEqual(new Array(v).fill(1 / v));
    expect(Array.from(lam.subarray(v))).toEqual([0, 0, 0, 0, 0, 1, 0, 0]);
  });

  it('gaussian likelihood is the exact Bayes posterior of a one-hot token (flat prior)', () => {
    const alphaBar = 0.7;
    const p = gaussianProcess(alphaBar);
    const obs = p.sample(Int32Array.of(2), v, createRng(4));
    if (obs.kind !== 'vectors') throw new Error('vectors expected');
    const lam = new Float64Array(v);
    p.likelihood(obs, v, lam);
    // Direct density: exp(−|x − √ᾱ e_b|² / (2(1 − ᾱ))), normalised over b.
    const dens = Array.from({ length: v }, (_, b) => {
      let q = 0;
      for (let c = 0; c < v; c++) q += (obs.vectors[c] - (c === b ? Math.sqrt(alphaBar) : 0)) ** 2;
      return Math.exp(-q / (2 * (1 - alphaBar)));
    });
    const z = dens.reduce((a, b) => a + b, 0);
    dens.forEach((x, b) => expect(lam[b]).toBeCloseTo(x / z, 12));
  });

  it('gaussian leaf posterior mass on the true token, v = 32, linear schedule, matches docs/science.md §3', () => {
    const s = linearSchedule();
    const V = 32;
    const N = 20000;
    const reference: [number, number][] = [
      [0.05, 0.999],
      [0.1, 0.703],
      [0.12, 0.513],
      [0.15, 0.307],
      [0.2, 0.143],
    ];
    for (const [fraction, expected] of reference) {
      const p = makeProcess('gaussian', fraction, s);
      const rng = createRng(5);
      const x = Int32Array.from({ length: N }, () => rng.nextInt(V));
      const lam = new Float64Array(N * V);
      p.likelihood(p.sample(x, V, rng), V, lam);
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < N; i++) {
        sum += lam[i * V + x[i]];
        sumSq += lam[i * V + x[i]] ** 2;
      }
      const mean = sum / N;
      const se = Math.sqrt((sumSq / N - mean * mean) / N);
      // The reference is given to 3 decimals: add half a unit of its last digit.
      expect(Math.abs(mean - expected)).toBeLessThanOrEqual(standardErrorTolerance(se) + 5e-4);
    }
  });

  it('rejects unknown processes and out-of-range noise with one-line ParamErrors', () => {
    expect(() => resolveProcess('gauss')).toThrow('invalid process "gauss" (expected eps, uniform, mask or gaussian)');
    expect(() => makeProcess('mask', 1.2)).toThrow(ParamError);
    expect(() => makeProcess('eps', Number.NaN)).toThrow(ParamError);
  });
});

describe('noise levels', () => {
  it('random streams name a process by a fixed id (never its place in a list), a level by its key', () => {
    expect(PROCESS_STREAM_IDS).toEqual({ eps: 0, uniform: 1, mask: 2, gaussian: 3 });
    expect(noiseKey(0.25)).toBe(250000000);
    expect(noiseKey(0.3 + 1e-12)).toBe(noiseKey(0.3));
  });

  it('one grid reader: lists and ranges, levels distinct by their key, worded for the source', () => {
    const flag = { param: 'noise-levels', label: '--noise-levels' };
    expect(parseNoiseGrid('0.5:0.9:5', flag)).toEqual([0.5, 0.6, 0.7, 0.8, 0.9]);
    expect(parseNoiseGrid(' 0.1,.2 ', flag)).toEqual([0.1, 0.2]);
    expect(() => parseNoiseGrid('0.3,0.3000000000001', flag)).toThrow('invalid --noise-levels "0.3,0.3000000000001" (values must be distinct (to 1e-9))');
    expect(() => parseNoiseGrid('0.2:1.5:3', { param: 'noiseLevels', label: 'sweep config noiseLevels: eps:' })).toThrow('invalid sweep config noiseLevels: eps: "1.5" (expected a number in [0, 1])');
  });
});
