import { createRng, type Rng } from '../../core/random.ts';
import type { ImageDiffusion } from '../diffusion/imageDiffusion.ts';
import { qSample, reverseStep, type SamplerSpec, type VarianceMode } from '../diffusion/sampler.ts';
import { fromUint8, toUint8 } from '../io/pixels.ts';
import { softmaxRows, top1 } from '../models/logits.ts';
import { pixelChange } from './changeCorrelations.ts';
import { compareLayer, type ClassifierStats } from './layerStats.ts';

/**
 * Round trips of images, with any model runtime: the arithmetic of `hierdiff images
 * forward-backward` (chains.ts) without files, so that the explorer page (onnxruntime-web in a
 * worker) computes what the CLI computes. Trajectory j of image i at step k draws from the stream
 * createRng(seed, i, k, j), as the CLI's chains do: the same noise, the same reverse steps.
 */

/** A diffusion model: a batch of n images (CHW, concatenated) at the model's timestep inputs → its output (ε, or ε and variance: `outputChannels`). */
export type DenoiseFn = (x: Float32Array, n: number, timesteps: readonly number[]) => Promise<{ output: Float32Array; outputChannels: number }>;

/** A classifier with probed layers: a batch of n inputs → logits (n × classes) and each probed layer (batch first). */
export type ClassifyFn = (x: Float32Array, n: number) => Promise<{ logits: Float32Array; classes: number; layers: { data: Float32Array; shape: number[] }[] }>;

/** What fixes a round trip besides the image: the run's diffusion, sampler and seed (an image run's config). */
export interface RoundTripSettings {
  diffusion: ImageDiffusion;
  seed: number;
  /** Noise to index k and start the chain at k − 1 (the published code), instead of noising to k − 1. */
  publishedOffset: boolean;
  variance: VarianceMode;
  sampler: SamplerSpec;
  /** What the model's timestep input means: the original index (through the respacing map) or the spaced one. */
  timestepInput: 'original' | 'spaced';
  /** Images per model call. */
  batchSize: number;
}

/** One round trip to run: image `image` of its run (x0: CHW in [−1, 1]) and the trajectory index whose stream it draws from. */
export interface RoundTripStart {
  x0: Float32Array;
  image: number;
  trajectory: number;
}

/** The chains' x_t, then, in place, their generated images, in the order of the starts. */
export interface RoundTrips {
  noised: Float32Array[];
  generated: Float32Array[];
}

/**
 * Noises each start's x0 to step `step` and runs its reverse chain back to 0, the chains side by
 * side in model calls of `batchSize` images: one image's K trajectories, or many images' first
 * trajectory. `onStep` after every model call: reverse steps done and in all (chains × steps).
 */
export async function roundTrips(s: RoundTripSettings, starts: readonly RoundTripStart[], step: number, denoise: DenoiseFn, onStep?: (done: number, total: number) => void): Promise<RoundTrips> {
  const d = s.diffusion;
  const chains: { x: Float32Array; rng: Rng }[] = starts.map((c) => {
    const rng = createRng(s.seed, c.image, step, c.trajectory);
    const x = new Float32Array(c.x0.length);
    qSample(d, s.publishedOffset ? step : step - 1, c.x0, x, rng);
    return { x, rng };
  });
  const noised = chains.map((c) => c.x.slice());
  const total = chains.length * step;
  let done = 0;
  for (let k = step - 1; k >= 0; k--) {
    const t = s.timestepInput === 'original' ? d.timestepMap[k] : k;
    for (let first = 0; first < chains.length; first += s.batchSize) {
      const batch = chains.slice(first, first + s.batchSize);
      const per = batch[0].x.length;
      const x = new Float32Array(batch.length * per);
      batch.forEach((c, i) => x.set(c.x, i * per));
      const { output } = await denoise(x, batch.length, new Array<number>(batch.length).fill(t));
      // ε, or ε and the variance's interpolation (2C channels), per image.
      const outPer = output.length / batch.length;
      batch.forEach((c, i) => reverseStep(d, k, c.x, output.subarray(i * outPer, (i + 1) * outPer), s.variance, s.sampler, c.rng));
      done += batch.length;
      onStep?.(done, total);
    }
  }
  return { noised, generated: chains.map((c) => c.x) };
}

/** What the classifier says of one image, beside the original's: as a results line's trajectory records it, plus the probabilities. */
export interface ImageVerdict {
  top1: number;
  /** Softmax of the logits (float64). */
  probs: number[];
  /** Mean |x − x0| over pixels, images in [−1, 1] (0 for the original). */
  pixelChange: number;
  /** Cosine of the whitened probed layers with the original's, per layer (1 for the original). */
  cosines: number[];
}

/**
 * Classifies the original and the generated images as the CLI does: each saved as uint8 the
 * published way, then read back at the classifier's scale ('identity' preset, classifier input at
 * the model's size), in one batch; compares each generated image with the original.
 * `channels` and `size`: the images' shape. The first verdict is the original's.
 */
export async function judge(x0: Float32Array, generated: readonly Float32Array[], channels: number, size: number, classify: ClassifyFn, stats: ClassifierStats): Promise<ImageVerdict[]> {
  const images = [x0, ...generated];
  const per = channels * size * size;
  const input = new Float32Array(images.length * per);
  images.forEach((x, i) => input.set(fromUint8(toUint8(x, channels), size, size, channels), i * per));
  const out = await classify(input, images.length);
  const probs = new Float64Array(images.length * out.classes);
  softmaxRows(out.logits, images.length, out.classes, probs);
  return images.map((x, i) => ({
    top1: top1(out.logits, out.classes, i),
    probs: Array.from(probs.subarray(i * out.classes, (i + 1) * out.classes)),
    pixelChange: i === 0 ? 0 : pixelChange(x0, x),
    cosines: out.layers.map((l, j) => (i === 0 ? 1 : compareLayer(l.data, 0, l.data, i, l.shape, stats.layers[j]).cosine)),
  }));
}
