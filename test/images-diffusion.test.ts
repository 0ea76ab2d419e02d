import { describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { createImageDiffusion, imageDiffusionToJson, originalBetas, type ImageDiffusion } from '../src/images/diffusion/imageDiffusion.ts';
import { exp2, parseSampler, qSample, resolveVarianceMode, reverseStep, type SamplerSpec, type VarianceMode } from '../src/images/diffusion/sampler.ts';
import { spaceTimesteps } from '../src/images/diffusion/spacing.ts';
import { FLOAT64_EXACT, meanTolerance, monteCarloTolerance, varianceTolerance } from './tolerance.ts';
import { gaussianEpsCoefficients, gaussianLaw } from './helpers/gaussianData.ts';

describe('bulk Gaussian noise and the fast exponential', () => {
  it('fillNormal draws N(0, 1): mean, variance and tail frequencies within Monte Carlo tolerance', () => {
    const n = 1_000_000;
    const z = new Float64Array(n);
    createRng(11).fillNormal(z);
    let m = 0;
    let v = 0;
    for (const x of z) {
      m += x;
      v += x * x;
    }
    m /= n;
    v = v / n - m * m;
    expect(Math.abs(m)).toBeLessThan(meanTolerance(1, n));
    expect(Math.abs(v - 1)).toBeLessThan(varianceTolerance(1, n));
    // Two-sided tails P(|z| > t) of the standard normal; t = 3.5 sits beyond the ziggurat's base edge R ≈ 3.44 (its tail path).
    const tails: [number, number][] = [
      [0.5, 0.617075077],
      [1, 0.317310508],
      [2, 0.045500264],
      [3, 0.002699796],
      [3.5, 0.000465258],
    ];
    for (const [t, p] of tails) {
      const got = z.reduce((c, x) => c + (Math.abs(x) > t ? 1 : 0), 0) / n;
      expect(Math.abs(got - p), `P(|z| > ${t})`).toBeLessThan(monteCarloTolerance(p, n));
    }
    // Float32 targets and short arrays work; the stream is seeded.
    const a = new Float32Array(7);
    const b = new Float32Array(7);
    createRng(3).fillNormal(a);
    createRng(3).fillNormal(b);
    expect(a).toEqual(b);
  });

  it('exp2 agrees with 2^y to 1e−8 relative', () => {
    for (let y = -40; y <= 40; y += 0.0137) expect(Math.abs(exp2(y) / 2 ** y - 1)).toBeLessThan(1e-8);
    expect(exp2(-5000)).toBe(0);
  });
});

describe('respacing (guided-diffusion space_timesteps)', () => {
  it('"250" of T = 1000 keeps 0, 4, 8, …, 995, 999', () => {
    const kept = Array.from(spaceTimesteps(1000, '250'));
    expect(kept.length).toBe(250);
    expect(kept.slice(0, 4)).toEqual([0, 4, 8, 12]);
    expect(kept.slice(-3)).toEqual([991, 995, 999]);
    // round(j·999/249) half to even, as guided-diffusion accumulates it.
    let x = 0;
    for (let j = 0; j < 250; j++, x += 999 / 249) expect(kept[j]).toBe(Math.round(x));
  });
  it('sections "10,15,20": the first T mod 3 sections one longer, each spaced evenly', () => {
    const kept = Array.from(spaceTimesteps(1000, '10,15,20'));
    expect(kept.length).toBe(45);
    expect(kept.slice(0, 10)).toEqual([0, 37, 74, 111, 148, 185, 222, 259, 296, 333]);
    expect(kept[10]).toBe(334);
    expect(kept[24]).toBe(334 + 332);
    expect(kept[25]).toBe(667);
    expect(kept[44]).toBe(999);
  });
  it('ddimN: range(0, T, k) with exactly N indices', () => {
    expect(Array.from(spaceTimesteps(1000, 'ddim50'))).toEqual(Array.from({ length: 50 }, (_, i) => 20 * i));
    expect(Array.from(spaceTimesteps(1000, 'ddim1000')).length).toBe(1000);
  });
  it('refuses bad respacings in one line naming the parameter', () => {
    for (const bad of ['ddim999', 'ddimx', 'abc', '10,,3', '1001', '']) {
      expect(() => spaceTimesteps(1000, bad)).toThrow(/^invalid --respacing "[^"]*" \(.+\)$/);
    }
  });
});

describe('the respaced process (docs/science.md §6.1)', () => {
  const full = createImageDiffusion({ schedule: 'linear', originalSteps: 1000, respacing: '1000' });
  it('linear T = 1000 has the reference ᾱ at indices 100, 201, 301, 502, 999', () => {
    const want: [number, number][] = [
      [100, 0.8951],
      [201, 0.6537],
      [301, 0.3916],
      [502, 0.0762],
    ];
    for (const [i, a] of want) expect(full.alphasCumprod[i]).toBeCloseTo(a, 4);
    expect(full.alphasCumprod[999] / 4.0e-5).toBeCloseTo(1, 1);
    const betas = originalBetas('linear', 1000);
    expect(betas[0]).toBe(1e-4);
    expect(betas[999]).toBe(0.02);
    expect(Math.abs(full.betas[999] - 0.02)).toBeLessThan(1e-12);
  });
  it('respacing keeps ᾱ at the kept indices and recomputes every quantity from β′ (closed forms)', () => {
    for (const [schedule, respacing] of [
      ['linear', '250'],
      ['cosine', '10,15,20'],
      ['linear', 'ddim50'],
    ] as const) {
      const base = createImageDiffusion({ schedule, respacing: '1000' });
      const d = createImageDiffusion({ schedule, respacing });
      const K = d.steps;
      for (let k = 0; k < K; k++) {
        const a = d.alphasCumprod[k];
        const ap = k === 0 ? 1 : d.alphasCumprod[k - 1];
        const beta = 1 - a / ap;
        // Relative: up to 1000 float64 products, and 1 − β′ loses digits where β′ nears 1 (cosine's 0.999 cap).
        expect(Math.abs(a / base.alphasCumprod[d.timestepMap[k]] - 1)).toBeLessThan(1e-10);
        expect(Math.abs(d.betas[k] - beta)).toBeLessThan(FLOAT64_EXACT);
        expect(d.alphasCumprodPrev[k]).toBe(ap);
        const postVar = (beta * (1 - ap)) / (1 - a);
        expect(Math.abs(d.posteriorVariance[k] - postVar)).toBeLessThan(FLOAT64_EXACT);
        expect(Math.abs(d.posteriorMeanCoef1[k] - (beta * Math.sqrt(ap)) / (1 - a))).toBeLessThan(FLOAT64_EXACT);
        expect(Math.abs(d.posteriorMeanCoef2[k] - ((1 - ap) * Math.sqrt(1 - beta)) / (1 - a))).toBeLessThan(FLOAT64_EXACT);
        // Noise-free data stay put: the posterior mean of x_{k−1} given x_k = √ᾱ_k x_0 and x_0 is √ᾱ_prev x_0.
        expect(Math.abs(d.posteriorMeanCoef1[k] + d.posteriorMeanCoef2[k] * Math.sqrt(a) - Math.sqrt(ap))).toBeLessThan(1e-12);
      }
      expect(d.posteriorVariance[0]).toBe(0);
      expect(d.posteriorLogVarianceClipped[0]).toBe(Math.log(d.posteriorVariance[1]));
    }
  });
  it('cosine betas are capped at 0.999', () => {
    const b = originalBetas('cosine', 1000);
    expect(Math.max(...b)).toBe(0.999);
    expect(b[0]).toBeGreaterThan(0);
  });
  it('JSON form keeps float64 exactly', () => {
    const d = createImageDiffusion({ respacing: '250' });
    const back = JSON.parse(JSON.stringify(imageDiffusionToJson(d))) as ReturnType<typeof imageDiffusionToJson>;
    expect(back.betas).toEqual(Array.from(d.betas));
    expect(back.timestepMap[249]).toBe(999);
    expect(Object.keys(back)).toEqual(
      expect.arrayContaining(['timestepMap', 'betas', 'alphasCumprod', 'alphasCumprodPrev', 'posteriorVariance', 'posteriorLogVarianceClipped', 'posteriorMeanCoef1', 'posteriorMeanCoef2']),
    );
  });
  it('refuses bad options', () => {
    expect(() => createImageDiffusion({ schedule: 'quadratic' })).toThrow('invalid schedule "quadratic" (expected linear or cosine)');
    expect(() => createImageDiffusion({ originalSteps: 1 })).toThrow(/diffusion-steps/);
    expect(() => parseSampler('ddim:2')).toThrow(/η/);
    expect(parseSampler('ddim:0.5')).toEqual({ kind: 'ddim', eta: 0.5 });
    expect(() => resolveVarianceMode('auto', 3, 5)).toThrow(/5 channels/);
    expect(resolveVarianceMode('auto', 3, 6)).toBe('learned-range');
    expect(resolveVarianceMode('auto', 3, 3)).toBe('fixed-large');
    expect(() => resolveVarianceMode('learned-range', 3, 3)).toThrow(/--variance/);
  });
});

/**
 * The reverse chain against the exact law of its output. Data x_0 ~ N(μ, s²) per pixel have an exact
 * ε-predictor that is affine in x_k (gaussianEpsCoefficients), so each reverse step is affine plus
 * Gaussian noise and the law of the generated pixels is Gaussian with a mean and variance we
 * propagate in float64. x̂_0 stays far inside [−1, 1] (|μ| + 6s < 1), so clipping never acts.
 */
describe('reverse chain with an exact Gaussian denoiser', () => {
  const mu = 0.1;
  const s = 0.15;
  const pixels = 20000;

  function runChain(d: ImageDiffusion, start: number, x0: number, variance: VarianceMode, sampler: SamplerSpec, vValue: number): Float32Array {
    const { a, b } = gaussianEpsCoefficients(d, mu, s);
    const rng = createRng(7, start, sampler.kind === 'ddim' ? 1 + sampler.eta : 0);
    const x = new Float32Array(pixels);
    qSample(d, start, new Float32Array(pixels).fill(x0), x, rng);
    const learned = variance === 'learned-range';
    const out = new Float32Array(learned ? 2 * pixels : pixels);
    for (let k = start === d.steps ? d.steps - 1 : start; k >= 0; k--) {
      for (let i = 0; i < pixels; i++) out[i] = a[k] * x[i] + b[k];
      if (learned) out.fill(vValue, pixels);
      reverseStep(d, k, x, out, variance, sampler, rng);
    }
    return x;
  }

  function moments(x: Float32Array): { mean: number; variance: number } {
    let m = 0;
    for (const v of x) m += v;
    m /= x.length;
    let q = 0;
    for (const v of x) q += (v - m) ** 2;
    return { mean: m, variance: q / (x.length - 1) };
  }

  const d = createImageDiffusion({ respacing: '50' });
  const cases: [VarianceMode, SamplerSpec, number][] = [
    ['learned-range', { kind: 'ddpm' }, 0.3],
    ['learned-range', { kind: 'ddpm' }, -1],
    ['fixed-small', { kind: 'ddpm' }, 0],
    ['fixed-large', { kind: 'ddpm' }, 0],
    ['fixed-large', { kind: 'ddim', eta: 0 }, 0],
    ['fixed-large', { kind: 'ddim', eta: 1 }, 0],
  ];
  it.each(cases)('%s %o (v = %d): generated pixels have the propagated mean and variance', (variance, sampler, v) => {
    for (const start of [d.steps - 1, 20, 3]) {
      const x0 = 0.4;
      const law = gaussianLaw(d, mu, s, { start, x0, variance, sampler, vValue: v });
      const got = moments(runChain(d, start, x0, variance, sampler, v));
      expect(Math.abs(got.mean - law.mean)).toBeLessThan(meanTolerance(law.variance, pixels));
      expect(Math.abs(got.variance - law.variance)).toBeLessThan(varianceTolerance(law.variance, pixels));
    }
  });

  it('the whole chain from pure noise, 1000 steps, recovers the data law N(μ, s²)', () => {
    const fine = createImageDiffusion({ respacing: '1000' });
    for (const [variance, sampler] of [
      ['fixed-large', { kind: 'ddpm' }],
      ['fixed-large', { kind: 'ddim', eta: 0 }],
    ] as const) {
      const got = moments(runChain(fine, fine.steps, 0, variance, sampler, 0));
      const law = gaussianLaw(fine, mu, s, { start: fine.steps, x0: 0, variance, sampler, vValue: 0 });
      // Sampling error, plus the discretisation bias of a 1000-step chain (the propagated law is 1.2 % (DDPM, β) and
      // 2.1 % (DDIM η = 0) off s² at s = 0.15; a wrong posterior coefficient moves it by far more).
      expect(Math.abs(law.variance / (s * s) - 1)).toBeLessThan(0.03);
      expect(Math.abs(got.mean - mu)).toBeLessThan(meanTolerance(s * s, pixels) + 1e-3);
      expect(Math.abs(got.variance / (s * s) - 1)).toBeLessThan(varianceTolerance(s * s, pixels) / (s * s) + 0.03);
    }
  });

  it('DDIM with η = 1 has the law of DDPM with the posterior variance β̃ (a known identity)', () => {
    for (const start of [d.steps, 30, 5]) {
      const ddim = gaussianLaw(d, mu, s, { start, x0: 0.2, variance: 'fixed-large', sampler: { kind: 'ddim', eta: 1 }, vValue: 0 });
      const ddpm = gaussianLaw(d, mu, s, { start, x0: 0.2, variance: 'fixed-small', sampler: { kind: 'ddpm' }, vValue: 0 });
      expect(Math.abs(ddim.mean - ddpm.mean)).toBeLessThan(1e-12);
      expect(Math.abs(ddim.variance - ddpm.variance)).toBeLessThan(1e-12);
    }
  });
});
