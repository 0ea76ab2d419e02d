/**
 * Gaussian data x_0 ~ N(μ, s²) per pixel: the one image distribution whose exact denoiser and
 * whose generated-image law under our reverse chain are known in closed form.
 */
import type { ImageDiffusion } from '../../src/images/diffusion/imageDiffusion.ts';
import type { SamplerSpec, VarianceMode } from '../../src/images/diffusion/sampler.ts';

/**
 * Exact ε-prediction at spaced index k: x_k = √ᾱ x_0 + √(1−ᾱ) ε with x_0 ~ N(μ, s²) gives
 * E[ε | x_k] = √(1−ᾱ)(x_k − √ᾱ μ)/(ᾱ s² + 1 − ᾱ) = a_k x_k + b_k.
 */
export function gaussianEpsCoefficients(d: ImageDiffusion, mu: number, s: number): { a: Float64Array; b: Float64Array } {
  const a = new Float64Array(d.steps);
  const b = new Float64Array(d.steps);
  for (let k = 0; k < d.steps; k++) {
    const ab = d.alphasCumprod[k];
    const denom = ab * s * s + 1 - ab;
    a[k] = Math.sqrt(1 - ab) / denom;
    b[k] = (-Math.sqrt(1 - ab) * Math.sqrt(ab) * mu) / denom;
  }
  return { a, b };
}

/**
 * Law of one generated pixel: start from x_0 (a constant) noised to index `start` (pure noise for
 * start = steps), then reverse steps `from` … 0 with the exact ε-predictor (`from` defaults to
 * start, or steps − 1 for pure noise; the published offset uses start − 1). Each step is
 * x ← A x + B + σ z, so mean and variance propagate exactly (no clipping: x̂_0 stays in [−1, 1]).
 */
export function gaussianLaw(
  d: ImageDiffusion,
  mu: number,
  s: number,
  o: { start: number; from?: number; x0: number; variance: VarianceMode; sampler: SamplerSpec; vValue: number },
): { mean: number; variance: number } {
  const { a, b } = gaussianEpsCoefficients(d, mu, s);
  let mean = o.start === d.steps ? 0 : Math.sqrt(d.alphasCumprod[o.start]) * o.x0;
  let variance = o.start === d.steps ? 1 : 1 - d.alphasCumprod[o.start];
  for (let k = o.from ?? (o.start === d.steps ? d.steps - 1 : o.start); k >= 0; k--) {
    const recip = Math.sqrt(1 / d.alphasCumprod[k]);
    const recipm1 = Math.sqrt(1 / d.alphasCumprod[k] - 1);
    // x̂_0 = P x + Q.
    const P = recip - recipm1 * a[k];
    const Q = -recipm1 * b[k];
    let A: number;
    let B: number;
    let noiseVar: number;
    if (o.sampler.kind === 'ddim') {
      const ab = d.alphasCumprod[k];
      const ap = k === 0 ? 1 : d.alphasCumprod[k - 1];
      const sigma = o.sampler.eta * Math.sqrt((1 - ap) / (1 - ab)) * Math.sqrt(1 - ab / ap);
      const dir = Math.sqrt(1 - ap - sigma * sigma);
      // ε̃ = (recip x − x̂_0)/recipm1.
      A = Math.sqrt(ap) * P + (dir * (recip - P)) / recipm1;
      B = Math.sqrt(ap) * Q - (dir * Q) / recipm1;
      noiseVar = k > 0 ? sigma * sigma : 0;
    } else {
      const ap = k === 0 ? 1 : d.alphasCumprod[k - 1];
      const ab = d.alphasCumprod[k];
      const beta = d.betas[k];
      const c1 = (beta * Math.sqrt(ap)) / (1 - ab);
      const c2 = ((1 - ap) * Math.sqrt(1 - beta)) / (1 - ab);
      A = c1 * P + c2;
      B = c1 * Q;
      const tilde = (j: number) => (d.betas[j] * (1 - (j === 0 ? 1 : d.alphasCumprod[j - 1]))) / (1 - d.alphasCumprod[j]);
      let logVar: number;
      if (o.variance === 'learned-range') {
        const frac = (o.vValue + 1) / 2;
        logVar = frac * Math.log(beta) + (1 - frac) * Math.log(k === 0 ? tilde(1) : tilde(k));
      } else if (o.variance === 'fixed-small') {
        logVar = Math.log(k === 0 ? tilde(1) : tilde(k));
      } else {
        logVar = Math.log(k === 0 ? tilde(1) : beta);
      }
      noiseVar = k > 0 ? Math.exp(logVar) : 0;
    }
    mean = A * mean + B;
    variance = A * A * variance + noiseVar;
  }
  return { mean, variance };
}
