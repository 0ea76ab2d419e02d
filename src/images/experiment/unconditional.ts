import { checkInt } from '../../core/errors.ts';
import { createRng, type Rng } from '../../core/random.ts';
import type { ImageDiffusion } from '../diffusion/imageDiffusion.ts';
import { reverseStep, type SamplerSpec, type VarianceMode } from '../diffusion/sampler.ts';
import type { OnnxDenoiser } from '../models/denoiser.ts';

export interface UnconditionalOptions {
  count: number;
  variance: VarianceMode;
  sampler?: SamplerSpec;
  /** Sample i starts from noise of createRng(seed, i) and draws its reverse-step noise from the same stream. */
  seed: number;
  /** Called after every batch of reverse steps with the samples finished so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Unconditional samples of a diffusion model: x_{K−1} ~ N(0, I), then the full reverse chain of the
 * (respaced) process `d` down to x̂_0 (guided-diffusion's p_sample_loop). Each sample has its own
 * random stream, so the samples do not depend on the model's batch size. Returns CHW images in
 * [−1, 1] (the final step's clipped x̂_0 mean), `count` of them.
 */
export async function sampleUnconditional(model: OnnxDenoiser, d: ImageDiffusion, o: UnconditionalOptions): Promise<Float32Array[]> {
  const count = checkInt('count', o.count, 1, 1e6);
  const seed = checkInt('seed', o.seed, 0);
  const shape = model.inputShape;
  if (!shape) throw new RangeError('sampleUnconditional: the model does not fix its image shape');
  const px = shape[0] * shape[1] * shape[2];
  const out: Float32Array[] = [];
  const sampler = o.sampler ?? { kind: 'ddpm' };
  for (let first = 0; first < count; first += model.batchSize) {
    const n = Math.min(model.batchSize, count - first);
    const rngs: Rng[] = Array.from({ length: n }, (_, i) => createRng(seed, first + i));
    const xs = rngs.map((rng) => {
      const x = new Float32Array(px);
      rng.fillNormal(x);
      return x;
    });
    const batch = new Float32Array(n * px);
    for (let k = d.steps - 1; k >= 0; k--) {
      xs.forEach((x, i) => batch.set(x, i * px));
      const { output, outputChannels } = await model.run(batch, n, new Array<number>(n).fill(d.timestepMap[k]));
      const per = outputChannels * shape[1] * shape[2];
      xs.forEach((x, i) => reverseStep(d, k, x, output.subarray(i * per, (i + 1) * per), o.variance, sampler, rngs[i]));
    }
    out.push(...xs);
    o.onProgress?.(out.length, count);
  }
  return out;
}
