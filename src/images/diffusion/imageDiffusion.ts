import { checkInt, resolveVariant } from '../../core/errors.ts';
import { cosineSchedule, linearSchedule, SCHEDULE_NAMES, type ScheduleName } from '../../noise/schedule.ts';
import { spaceTimesteps } from './spacing.ts';

/**
 * The arrays of a (respaced) Gaussian diffusion in guided-diffusion's conventions
 * (docs/science.md §6.1), all in float64 and 0-based: index k = 0 … K−1 is a spaced step, and the
 * model is called with the original index `timestepMap[k]` (0 … T−1; our noise/ t is that + 1).
 * Index k holds the state after k + 1 noising steps of the respaced process: x_k has ᾱ_k, so
 * k = K−1 is (nearly) pure noise and the reverse chain ends at k = 0, which it leaves without noise.
 */
export interface ImageDiffusion {
  readonly schedule: ScheduleName;
  /** Steps of the original process (T). */
  readonly originalSteps: number;
  /** The respacing text the process was built from ("250", "ddim50", "10,15,20"). */
  readonly respacing: string;
  /** Spaced steps K. */
  readonly steps: number;
  /** Original 0-based index of each spaced step, ascending. */
  readonly timestepMap: Int32Array;
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** [1, ᾱ_0, …, ᾱ_{K−2}]. */
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** √(1/ᾱ_k). */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** √(1/ᾱ_k − 1). */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_k = β_k (1 − ᾱ_prev,k)/(1 − ᾱ_k): variance of q(x_{k−1} | x_k, x_0). */
  readonly posteriorVariance: Float64Array;
  /** log β̃ with β̃_0 (which is 0) replaced by β̃_1. */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** β_k √ᾱ_prev,k / (1 − ᾱ_k): weight of x̂_0 in the posterior mean. */
  readonly posteriorMeanCoef1: Float64Array;
  /** (1 − ᾱ_prev,k) √α_k / (1 − ᾱ_k): weight of x_k in the posterior mean. */
  readonly posteriorMeanCoef2: Float64Array;
}

/** The plain-number form `hierdiff images schedule` writes. */
export interface ImageDiffusionJson {
  schedule: ScheduleName;
  originalSteps: number;
  respacing: string;
  steps: number;
  timestepMap: number[];
  betas: number[];
  alphasCumprod: number[];
  alphasCumprodPrev: number[];
  posteriorVariance: number[];
  posteriorLogVarianceClipped: number[];
  posteriorMeanCoef1: number[];
  posteriorMeanCoef2: number[];
}

/**
 * β_i of the original process, i = 0 … T−1 (guided-diffusion's `get_named_beta_schedule`):
 * linear = linspace(1e−4·1000/T, 0.02·1000/T, T); cosine = min(1 − ā((i+1)/T)/ā(i/T), 0.999).
 * Computed by noise/schedule.ts, whose t = i + 1.
 */
export function originalBetas(schedule: ScheduleName, T: number): Float64Array {
  const s = schedule === 'linear' ? linearSchedule(T, (1e-4 * 1000) / T, (0.02 * 1000) / T) : cosineSchedule(T);
  return s.betas.slice(1);
}

/**
 * Builds the respaced process (guided-diffusion's `SpacedDiffusion` over `GaussianDiffusion`):
 * kept indices τ_k from {@link spaceTimesteps}, β'_k = 1 − ᾱ_{τ_k}/ᾱ_{τ_{k−1}} (ᾱ_{τ_{−1}} = 1),
 * then every quantity recomputed from β'. Throws ParamError for a bad schedule, T or respacing.
 */
export function createImageDiffusion(options: { schedule?: string; originalSteps?: number; respacing?: string } = {}): ImageDiffusion {
  const schedule = resolveVariant('schedule', options.schedule ?? 'linear', SCHEDULE_NAMES);
  // The linear schedule scales β_end = 0.02·1000/T, which must stay ≤ 1: T ≥ 20.
  const T = checkInt('diffusion-steps', options.originalSteps ?? 1000, schedule === 'linear' ? 20 : 2, 100000);
  const respacing = options.respacing ?? String(T);
  const base = originalBetas(schedule, T);
  const timestepMap = spaceTimesteps(T, respacing);
  const K = timestepMap.length;
  const betas = new Float64Array(K);
  let cumprod = 1;
  let last = 1;
  let k = 0;
  for (let i = 0; i < T && k < K; i++) {
    cumprod *= 1 - base[i];
    if (i === timestepMap[k]) {
      betas[k++] = 1 - cumprod / last;
      last = cumprod;
    }
  }
  const alphasCumprod = new Float64Array(K);
  let acc = 1;
  for (let j = 0; j < K; j++) alphasCumprod[j] = acc *= 1 - betas[j];
  const alphasCumprodPrev = new Float64Array(K);
  alphasCumprodPrev[0] = 1;
  alphasCumprodPrev.set(alphasCumprod.subarray(0, K - 1), 1);
  const posteriorVariance = betas.map((b, j) => (b * (1 - alphasCumprodPrev[j])) / (1 - alphasCumprod[j]));
  // β̃_0 = 0; guided-diffusion clips its log to β̃_1 (for K = 1 there is no β̃_1: keep β_0).
  const posteriorLogVarianceClipped = posteriorVariance.map((v, j) => Math.log(j === 0 ? (K > 1 ? posteriorVariance[1] : betas[0]) : v));
  return {
    schedule,
    originalSteps: T,
    respacing,
    steps: K,
    timestepMap,
    betas,
    alphasCumprod,
    alphasCumprodPrev,
    sqrtAlphasCumprod: alphasCumprod.map(Math.sqrt),
    sqrtOneMinusAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 - a)),
    sqrtRecipAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped,
    posteriorMeanCoef1: betas.map((b, j) => (b * Math.sqrt(alphasCumprodPrev[j])) / (1 - alphasCumprod[j])),
    posteriorMeanCoef2: betas.map((b, j) => ((1 - alphasCumprodPrev[j]) * Math.sqrt(1 - b)) / (1 - alphasCumprod[j])),
  };
}

/** The process as plain arrays (JSON keeps float64 exactly: shortest round-trip form). */
export function imageDiffusionToJson(d: ImageDiffusion): ImageDiffusionJson {
  return {
    schedule: d.schedule,
    originalSteps: d.originalSteps,
    respacing: d.respacing,
    steps: d.steps,
    timestepMap: Array.from(d.timestepMap),
    betas: Array.from(d.betas),
    alphasCumprod: Array.from(d.alphasCumprod),
    alphasCumprodPrev: Array.from(d.alphasCumprodPrev),
    posteriorVariance: Array.from(d.posteriorVariance),
    posteriorLogVarianceClipped: Array.from(d.posteriorLogVarianceClipped),
    posteriorMeanCoef1: Array.from(d.posteriorMeanCoef1),
    posteriorMeanCoef2: Array.from(d.posteriorMeanCoef2),
  };
}
