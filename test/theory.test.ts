import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { createRng } from '../src/core/random.ts';
import { makeProcess, noiseControl, type ProcessName } from '../src/noise/process.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { effectiveLeafBelief, gaussianLeafBelief } from '../src/theory/leafBelief.ts';
import { criticalPoint, interiorFixedPoints, leafBelief, meanFieldDerivative, meanFieldMap, predictClassKept, predictLevels, type MeanFieldParams } from '../src/theory/meanField.ts';
import { meanFieldCriticalNoise, meanFieldPrediction } from '../src/theory/predict.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';
import { monteCarloTolerance } from './tolerance.ts';
import { CLOSED_FORM, FINITE_DIFFERENCE, GAUSSIAN_BELIEF_VS_REFERENCE, MEAN_FIELD_VS_BP, quoted, ROOT_FINDER } from './theoryTolerance.ts';

const V32M8: MeanFieldParams = { vocab: 32, synonyms: 8, tuple: 2 };

describe('mean-field closed forms (docs/science.md §5)', () => {
  it('v32 m8 s2: p* = 7/24, ε* = 0.731182, λ = 1.44225, ν = 1.893', () => {
    const c = criticalPoint(V32M8);
    expect(c.transitionExists).toBe(true);
    expect(Math.abs(c.pStar! - 7 / 24)).toBeLessThan(CLOSED_FORM);
    expect(Math.abs(c.criticalNoise! - 544 / 744)).toBeLessThan(CLOSED_FORM);
    expect(Math.abs(c.criticalNoise! - 0.731182)).toBeLessThan(1e-6); // the issue's own criterion
    expect(Math.abs(c.lambda! - 1.44225)).toBeLessThan(quoted(5));
    expect(Math.abs(c.nu! - 1.893)).toBeLessThan(quoted(3));
    expect(c.fixedPoints).toHaveLength(3);
    expect(c.fixedPoints[0]).toBe(1 / 32);
    expect(c.fixedPoints[2]).toBe(1);
  });

  it('F fixes 1/v, 1 and p*; F′ matches a finite difference and F′(1) = s·m(v−1)/(v^s−1)', () => {
    for (const p of [V32M8, { vocab: 8, synonyms: 3, tuple: 3 }, { vocab: 10, synonyms: 10, tuple: 3 }, { vocab: 5, synonyms: 7, tuple: 4 }]) {
      const { vocab: v, synonyms: m, tuple: s } = p;
      expect(Math.abs(meanFieldMap(p, 1 / v) - 1 / v)).toBeLessThan(CLOSED_FORM);
      expect(Math.abs(meanFieldMap(p, 1) - 1)).toBeLessThan(CLOSED_FORM);
      expect(Math.abs(meanFieldDerivative(p, 1) - (s * m * (v - 1)) / (v ** s - 1))).toBeLessThan(CLOSED_FORM);
      for (const x of [0.1, 0.3, 0.55, 0.8, 0.97]) {
        const h = 1e-5;
        const fd = (meanFieldMap(p, x + h) - meanFieldMap(p, x - h)) / (2 * h);
        expect(Math.abs(meanFieldDerivative(p, x) - fd)).toBeLessThan(FINITE_DIFFERENCE);
      }
    }
  });

  it('the root finder for s > 2 reproduces the s = 2 closed form', () => {
    for (const [v, m] of [
      [32, 8],
      [32, 16],
      [16, 3],
      [9, 4],
    ]) {
      const roots = interiorFixedPoints({ vocab: v, synonyms: m, tuple: 2 });
      expect(roots).toHaveLength(1);
      expect(Math.abs(roots[0] - (m - 1) / (v - m))).toBeLessThan(ROOT_FINDER);
    }
  });

  it('s > 2: p* is a fixed point, direct iteration of F leaves it on either side, and λ is its growth rate', () => {
    for (const p of [
      { vocab: 8, synonyms: 3, tuple: 3 },
      { vocab: 10, synonyms: 10, tuple: 3 },
      { vocab: 6, synonyms: 12, tuple: 4 },
    ]) {
      const c = criticalPoint(p);
      expect(c.transitionExists).toBe(true);
      const pStar = c.pStar!;
      expect(Math.abs(meanFieldMap(p, pStar) - pStar)).toBeLessThan(ROOT_FINDER);
      const iterate = (x: number, n: number) => {
        for (let i = 0; i < n; i++) x = meanFieldMap(p, x);
        return x;
      };
      // 1e−6 off p* grows by λ per level: after enough levels it has left for 1 or for 1/v.
      const n = Math.ceil(Math.log(1e7) / Math.log(c.lambda!)) + 200;
      expect(iterate(pStar + 1e-6, n)).toBeGreaterThan(1 - 1e-6);
      expect(iterate(pStar - 1e-6, n)).toBeLessThan(1 / p.vocab + 1e-6);
      // One step from p* + δ with δ = 1e−8: (F(p*+δ) − p*)/δ = λ + O(δ).
      const delta = 1e-8;
      expect(Math.abs((meanFieldMap(p, pStar + delta) - pStar) / delta - c.lambda!)).toBeLessThan(1e-5);
      expect(Math.abs(c.nu! - Math.log(p.tuple) / Math.log(c.lambda!))).toBeLessThan(CLOSED_FORM);
      expect(Math.abs(c.criticalNoise! - (1 - pStar) / (1 - 1 / p.vocab))).toBeLessThan(CLOSED_FORM);
    }
  });

  it('the existence condition switches where it should', () => {
    const m16 = criticalPoint({ vocab: 32, synonyms: 16, tuple: 2 });
    expect(m16.transitionExists).toBe(true);
    expect(Math.abs(m16.criticalNoise! - 2 / 31)).toBeLessThan(CLOSED_FORM); // ≈ 0.0645
    const m17 = criticalPoint({ vocab: 32, synonyms: 17, tuple: 2 });
    expect(m17.transitionExists).toBe(false);
    expect(m17.criticalNoise).toBeNull();
    expect(m17.fixedPoints).toEqual([1 / 32, 1]);
    // s = 3 without a transition: v = 4, m = 16 has F′(1) = 3·16·3/63 > 1.
    expect(criticalPoint({ vocab: 4, synonyms: 16, tuple: 3 }).transitionExists).toBe(false);
    // m = 1: 1/v is unstable, everything flows to 1 (no transition either).
    expect(criticalPoint({ vocab: 8, synonyms: 1, tuple: 2 }).transitionExists).toBe(false);
    // Sweep: a transition exists iff F′(1) < 1 and there is an unstable interior fixed point.
    for (const s of [2, 3]) {
      for (let v = 3; v <= 12; v++) {
        for (let m = 1; m <= Math.min(v ** (s - 1), 40); m++) {
          const p = { vocab: v, synonyms: m, tuple: s };
          const c = criticalPoint(p);
          if (meanFieldDerivative(p, 1) >= 1) expect(c.transitionExists).toBe(false);
          if (c.transitionExists) {
            expect(meanFieldDerivative(p, 1)).toBeLessThan(1);
            expect(c.lambda!).toBeGreaterThan(1);
            expect(c.pStar!).toBeGreaterThan(1 / v);
            expect(c.pStar!).toBeLessThan(1);
          }
          if (s === 2) expect(c.transitionExists).toBe(m >= 2 && 2 * m < v + 1);
        }
      }
    }
  });

  it('rejects bad parameters with ParamError', () => {
    expect(() => criticalPoint({ vocab: 32, synonyms: 33, tuple: 2 })).toThrow(ParamError);
    expect(() => criticalPoint({ vocab: 1, synonyms: 1, tuple: 2 })).toThrow(ParamError);
    expect(() => criticalPoint({ vocab: 8, synonyms: 2, tuple: 1 })).toThrow(ParamError);
    expect(() => criticalPoint({ vocab: 8, synonyms: 2.5, tuple: 2 })).toThrow(ParamError);
    expect(() => leafBelief(V32M8, 1.5)).toThrow(ParamError);
    expect(() => predictLevels(V32M8, 0.5, 0)).toThrow(ParamError);
    expect(() => predictClassKept({ vocab: 4, synonyms: 2, tuple: 2, classes: 9 }, 0.5, 3)).toThrow(ParamError);
  });
});

describe('mean-field predictions', () => {
  it('level profile: index 0 is the root, index L the leaf belief, P_ℓ = F^(L−ℓ)(p_L)', () => {
    const levels = predictLevels(V32M8, leafBelief(V32M8, 0.6), 5);
    expect(levels).toHaveLength(6);
    expect(levels[5]).toBe(1 - 0.6 + 0.6 / 32);
    for (let l = 0; l < 5; l++) expect(levels[l]).toBe(meanFieldMap(V32M8, levels[l + 1]));
    expect(predictClassKept(V32M8, 0.6, 5)).toBe(levels[0]);
    // n_c ≠ v: only the last step changes, and uninformative leaves give 1/n_c at the root.
    const withClasses = { ...V32M8, classes: 10 };
    expect(Math.abs(predictClassKept(withClasses, 1, 4) - 1 / 10)).toBeLessThan(CLOSED_FORM);
    expect(predictLevels(withClasses, 0.7, 4).slice(1)).toEqual(predictLevels(V32M8, 0.7, 4).slice(1));
  });

  it('matches simulated BP for the ε-process within 0.04 (docs/science.md §4 table, L = 2…8)', () => {
    const eps = [0.5, 0.6, 0.65, 0.7, 0.72, 0.74, 0.76, 0.8, 0.9];
    const table: Record<number, number[]> = {
      2: [0.705, 0.553, 0.459, 0.357, 0.316, 0.275, 0.236, 0.166, 0.057],
      4: [0.886, 0.757, 0.628, 0.436, 0.348, 0.262, 0.186, 0.087, 0.034],
      6: [0.967, 0.911, 0.822, 0.575, 0.402, 0.227, 0.109, 0.04, 0.031],
      8: [0.992, 0.977, 0.946, 0.777, 0.522, 0.172, 0.048, 0.032, 0.031],
    };
    for (const [L, row] of Object.entries(table)) {
      row.forEach((bp, i) => expect(Math.abs(predictClassKept(V32M8, eps[i], Number(L)) - bp)).toBeLessThan(MEAN_FIELD_VS_BP));
    }
    // docs/science.md §5 quotes the map itself at L = 8: 0.766, 0.503, 0.156 at ε = 0.70, 0.72, 0.74.
    [0.766, 0.503, 0.156].forEach((mf, i) => expect(Math.abs(predictClassKept(V32M8, [0.7, 0.72, 0.74][i], 8) - mf)).toBeLessThan(quoted(3)));
  });

  it('class kept becomes a step at ε* as L grows', () => {
    const c = criticalPoint(V32M8).criticalNoise!;
    expect(predictClassKept(V32M8, c - 0.01, 200)).toBeGreaterThan(0.999);
    expect(predictClassKept(V32M8, c + 0.01, 200)).toBeLessThan(1 / 32 + 1e-6);
  });
});

describe('effective leaf beliefs (docs/science.md §3)', () => {
  const schedule = linearSchedule();

  it('gaussian one-hot, v = 32, linear schedule: docs/science.md §3 values at t/T = 0.05 … 0.20', () => {
    const ref = [0.999, 0.703, 0.513, 0.307, 0.143];
    [0.05, 0.1, 0.12, 0.15, 0.2].forEach((f, i) => expect(Math.abs(effectiveLeafBelief('gaussian', noiseControl('gaussian', f, schedule), 32) - ref[i])).toBeLessThan(GAUSSIAN_BELIEF_VS_REFERENCE));
    expect(gaussianLeafBelief(1, 32)).toBe(1);
    expect(Math.abs(gaussianLeafBelief(0, 32) - 1 / 32)).toBeLessThan(1e-9);
  });

  it('every process: E[λ(x_0)] equals a Monte Carlo of the process itself', () => {
    const v = 16;
    const n = 40000;
    const cases: [ProcessName, number][] = [
      ['eps', 0.4],
      ['mask', 0.3],
      ['uniform', 0.2],
      ['gaussian', 0.12],
    ];
    for (const [name, noise] of cases) {
      const process = makeProcess(name, noise, schedule);
      const x0 = Int32Array.from({ length: n }, (_, i) => i % v);
      const lambda = new Float64Array(n * v);
      process.likelihood(process.sample(x0, v, createRng(5, n)), v, lambda);
      let acc = 0;
      for (let i = 0; i < n; i++) {
        let z = 0;
        for (let b = 0; b < v; b++) z += lambda[i * v + b];
        acc += lambda[i * v + x0[i]] / z;
      }
      const mc = acc / n;
      const theory = effectiveLeafBelief(name, process.control, v);
      // The mass is a [0, 1] variable: its SD is at most that of a Bernoulli of the same mean.
      expect(Math.abs(mc - theory)).toBeLessThan(monteCarloTolerance(theory, n));
    }
  });

  it('mean-field critical noise per process, in its own units', () => {
    expect(meanFieldCriticalNoise(V32M8, 'eps')).toBe(criticalPoint(V32M8).criticalNoise);
    expect(meanFieldCriticalNoise(V32M8, 'mask')).toBe(criticalPoint(V32M8).criticalNoise);
    for (const name of ['uniform', 'gaussian'] as ProcessName[]) {
      const c = meanFieldCriticalNoise(V32M8, name)!;
      const tol = name === 'gaussian' ? 2 / schedule.T : 1e-9; // ᾱ is read at integer t
      expect(meanFieldPrediction(V32M8, name, Math.max(0, c - tol), 1).leafBelief).toBeGreaterThanOrEqual(7 / 24 - 1e-9);
      expect(meanFieldPrediction(V32M8, name, Math.min(1, c + tol), 1).leafBelief).toBeLessThanOrEqual(7 / 24 + 1e-9);
    }
    expect(meanFieldCriticalNoise({ vocab: 32, synonyms: 17, tuple: 2 }, 'uniform')).toBeNull();
  });
});

describe('hierdiff theory (binary)', () => {
  const dir = tempDir('hierdiff-theory-');

  it('writes the critical point and rows; bad input is one line and exit 2', () => {
    const out = join(dir, 'theory.json');
    const r = runCli(['theory', '--depth', '2,8', '--noise-levels', '0.7,0.74', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0.731183');
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.run.command).toContain('hierdiff theory');
    expect(json.transitionExists).toBe(true);
    expect(Math.abs(json.criticalNoise - 0.731182)).toBeLessThan(1e-6);
    expect(json.fixedPoints).toHaveLength(3);
    expect(json.lambda).toBeCloseTo(1.44225, 5);
    expect(json.nu).toBeCloseTo(1.893, 3);
    expect(json.rows).toHaveLength(4);
    expect(json.rows[2]).toMatchObject({ depth: 8, noise: 0.7 });
    expect(Math.abs(json.rows[2].classKept - 0.766)).toBeLessThan(quoted(3));
    expect(json.rows[2].levelKept).toHaveLength(9);

    const popOut = join(dir, 'theory-population.json');
    const pop = runCli(['theory', '--method', 'population', '--process', 'mask', '--depth', '3', '--noise-levels', '0,1', '--population', '50', '--out', popOut]);
    expect(pop.code).toBe(0);
    const pj = JSON.parse(readFileSync(popOut, 'utf8'));
    expect(pj.rows[0].classKept).toBe(1); // no noise: every message is one-hot on the truth
    expect(Math.abs(pj.rows[1].classKept - 1 / 32)).toBeLessThan(CLOSED_FORM); // all masked: uniform

    // Two spawns cover the CLI's error path (library ParamError and option parsing); the parsers themselves are tested in-process.
    const fb = runCli(['forward-backward', '--depth', '2', '--process', 'eps', '--noise-levels', '0.7', '--samples', '50', '--trajectories', '1', '--theory', '--out', join(dir, 'fb.json')]);
    expect(fb.code).toBe(0);
    expect(fb.stdout).toContain('P0 mean-field');
    const row = JSON.parse(readFileSync(join(dir, 'fb.json'), 'utf8')).rows[0];
    expect(row.theory.meanField.classKept).toBe(predictClassKept(V32M8, 0.7, 2));
    expect(row.theory.population.levelKept).toHaveLength(3);
    expect(Math.abs(row.theory.population.classKept - row.classKept)).toBeLessThan(0.1); // 50 data: a smoke check only

    for (const args of [
      ['--synonyms', '40'],
      ['--method', 'exact'],
    ]) {
      const bad = runCli(['theory', ...args]);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
