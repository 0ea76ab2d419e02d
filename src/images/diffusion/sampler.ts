import { checkNumber, ParamError, resolveVariant } from '../../core/errors.ts';
import type { Rng } from '../../core/random.ts';
import type { ImageDiffusion } from './imageDiffusion.ts';

/**
 * How the reverse step's variance is set (docs/science.md §6.1): `learned-range` reads the model's
 * last C output channels v and uses log σ² = frac·log β_k + (1 − frac)·log β̃_k (clipped),
 * frac = (v + 1)/2; `fixed-large` uses σ² = β_k (β_0 replaced by β̃_1); `fixed-small` uses β̃_k.
 */
export type VarianceMode = 'learned-range' | 'fixed-small' | 'fixed-large';
export const VARIANCE_MODES: readonly VarianceMode[] = ['learned-range', 'fixed-small', 'fixed-large'];

/** The reverse chain: ancestral DDPM sampling, or DDIM with stochasticity η ∈ [0, 1]. */
export type SamplerSpec = { kind: 'ddpm' } | { kind: 'ddim'; eta: number };

/** Parses `ddpm`, `ddim` (η = 0) or `ddim:η`. */
export function parseSampler(text: string): SamplerSpec {
  const [name, etaText] = text.split(':');
  const kind = resolveVariant('sampler', name, ['ddpm', 'ddim'] as const);
  if (kind === 'ddpm') {
    if (etaText !== undefined) throw new ParamError('sampler', `invalid sampler "${text}" (ddpm takes no η; expected ddpm, ddim or ddim:η)`);
    return { kind };
  }
  return { kind, eta: etaText === undefined ? 0 : checkNumber('sampler η', Number(etaText), 0, 1) };
}

/**
 * The variance mode a model's output calls for: 2C output channels carry learned-range values
 * (guided-diffusion's `learn_sigma`), C channels a fixed variance (guided-diffusion's default for
 * those is fixed-large). An explicit mode must agree with the channel count.
 */
export function resolveVarianceMode(requested: VarianceMode | 'auto', channels: number, outputChannels: number): VarianceMode {
  const learned = outputChannels === 2 * channels;
  if (!learned && outputChannels !== channels) {
    throw new ParamError('model', `invalid model output: ${outputChannels} channels for a ${channels}-channel image (expected ${channels} for ε or ${2 * channels} for ε + variance)`);
  }
  if (requested === 'auto') return learned ? 'learned-range' : 'fixed-large';
  if ((requested === 'learned-range') !== learned) {
    throw new ParamError('variance', `invalid --variance ${requested} for a model with ${outputChannels} output channels (learned-range needs ${2 * channels}, fixed variances ${channels})`);
  }
  return requested;
}

/**
 * q_sample at spaced index k: writes x_k = √ᾱ_k·x_0 + √(1 − ᾱ_k)·ξ, ξ ~ N(0, I), into `out`
 * (same layout as `x0`, any length). `k = steps` (one past the last index) gives pure noise ξ,
 * the published code's start for its last step.
 */
export function qSample(d: ImageDiffusion, k: number, x0: Float32Array, out: Float32Array, rng: Rng): void {
  if (k === d.steps) {
    rng.fillNormal(out);
    return;
  }
  const a = d.sqrtAlphasCumprod[k];
  const b = d.sqrtOneMinusAlphasCumprod[k];
  const z = noise(rng, out.length);
  for (let i = 0; i < out.length; i++) out[i] = a * x0[i] + b * z[i];
}

/** 2^k for integer k in [−1022, 1023]: the integer part of {@link exp2}. */
const POW2 = Float64Array.from({ length: 2046 }, (_, i) => 2 ** (i - 1022));

/**
 * 2^y to < 1e−8 relative error (the Taylor remainder at t = ln 2), several times faster than Math.exp (the learned-range σ needs one
 * per pixel and step): 2^⌊y⌋ from a table times a degree-9 Taylor polynomial of 2^f, f ∈ [0, 1).
 */
export function exp2(y: number): number {
  const k = Math.floor(y);
  if (!(k > -1022 && k < 1023)) return 2 ** y;
  const t = (y - k) * Math.LN2;
  const p = 1 + t * (1 + t * (0.5 + t * (1 / 6 + t * (1 / 24 + t * (1 / 120 + t * (1 / 720 + t * (1 / 5040 + t * (1 / 40320 + t / 362880))))))));
  return POW2[k + 1022] * p;
}

/** One scratch array of standard normals, reused across calls (the functions here are synchronous). */
let scratch = new Float64Array(0);
function noise(rng: Rng, n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  const z = scratch.subarray(0, n);
  rng.fillNormal(z);
  return z;
}

/**
 * One reverse step of one image from spaced index k to k − 1 (docs/science.md §6.1), in place.
 * `x` holds x_k (C·H·W values); `modelOutput` the model's output for it: ε̂ in its first C·H·W
 * values, then (learned-range only) the variance values v. x̂_0 = √(1/ᾱ_k)·x_k − √(1/ᾱ_k − 1)·ε̂ is
 * clipped to [−1, 1]. DDPM: x_{k−1} = coef1·x̂_0 + coef2·x_k + σ_k z; DDIM(η): x_{k−1} =
 * x̂_0√ᾱ_prev + √(1 − ᾱ_prev − σ²)·ε̃ + σz with ε̃ re-derived from the clipped x̂_0. No noise is
 * drawn at k = 0. Arithmetic in float64, the state stored in float32 (the model's input type).
 */
export function reverseStep(d: ImageDiffusion, k: number, x: Float32Array, modelOutput: Float32Array, variance: VarianceMode, sampler: SamplerSpec, rng: Rng): void {
  const n = x.length;
  const recip = d.sqrtRecipAlphasCumprod[k];
  const recipm1 = d.sqrtRecipm1AlphasCumprod[k];
  const noisy = k > 0;
  if (sampler.kind === 'ddim') {
    const abar = d.alphasCumprod[k];
    const abarPrev = d.alphasCumprodPrev[k];
    const sigma = sampler.eta * Math.sqrt((1 - abarPrev) / (1 - abar)) * Math.sqrt(1 - abar / abarPrev);
    const sqrtPrev = Math.sqrt(abarPrev);
    const dirCoef = Math.sqrt(Math.max(0, 1 - abarPrev - sigma * sigma));
    const z = noisy && sigma > 0 ? noise(rng, n) : null;
    for (let i = 0; i < n; i++) {
      const xt = x[i];
      let x0 = recip * xt - recipm1 * modelOutput[i];
      x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
      const eps = (recip * xt - x0) / recipm1;
      x[i] = x0 * sqrtPrev + dirCoef * eps + (z ? sigma * z[i] : 0);
    }
    return;
  }
  const c1 = d.posteriorMeanCoef1[k];
  const c2 = d.posteriorMeanCoef2[k];
  const z = noisy ? noise(rng, n) : null;
  if (variance === 'learned-range') {
    const maxLog = Math.log(d.betas[k]);
    const minLog = d.posteriorLogVarianceClipped[k];
    // σ = exp(½(frac·log β + (1 − frac)·log β̃)) = 2^(a + b·v) with frac = (v + 1)/2.
    const a = (0.5 * (0.5 * maxLog + 0.5 * minLog)) / Math.LN2;
    const b = (0.25 * (maxLog - minLog)) / Math.LN2;
    for (let i = 0; i < n; i++) {
      const xt = x[i];
      let x0 = recip * xt - recipm1 * modelOutput[i];
      x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
      const mean = c1 * x0 + c2 * xt;
      x[i] = z ? mean + exp2(a + b * modelOutput[n + i]) * z[i] : mean;
    }
    return;
  }
  const logVar = variance === 'fixed-small' ? d.posteriorLogVarianceClipped[k] : Math.log(k === 0 ? (d.steps > 1 ? d.posteriorVariance[1] : d.betas[0]) : d.betas[k]);
  const sigma = Math.exp(0.5 * logVar);
  for (let i = 0; i < n; i++) {
    const xt = x[i];
    let x0 = recip * xt - recipm1 * modelOutput[i];
    x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
    const mean = c1 * x0 + c2 * xt;
    x[i] = z ? mean + sigma * z[i] : mean;
  }
}
