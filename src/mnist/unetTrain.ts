import { checkInt, checkNumber, ParamError, resolveVariant } from '../core/errors.ts';
import { createRng } from '../core/random.ts';
import { createImageDiffusion } from '../images/diffusion/imageDiffusion.ts';
import { EpochBatches } from '../nn/batches.ts';
import { learningRate, LR_DECAYS, type LrDecay } from '../nn/lrSchedule.ts';
import type { Graph, Value } from '../nn/graph.ts';
import { trainModel, type TrainProgress, type TrainResult } from '../nn/train.ts';
import { imageUnetParamShapes, initImageUnet, MNIST_UNET_CONFIG, type ImageUnetConfig } from './unet.ts';
import { imageUnetGraph } from './unetGraph.ts';
import { loadMnist, type DigitSet } from './data.ts';

/** The diffusion the MNIST model is trained for: guided-diffusion's linear schedule, T = 1000 (part of the shipped recipe: MNIST_RECIPE in train.ts). */
export const MNIST_DIFFUSION = { schedule: 'linear', originalSteps: 1000 } as const;

/** One progress report of the image trainers (nn/train.ts's). */
export type ImageTrainProgress = TrainProgress;

/** What the image trainers return: params, the EMA weights (the ones to ship), losses, resumedFrom, seconds. */
export type ImageTrainResult = TrainResult;

/** What both MNIST trainers take besides their hyper-parameters: seed, data, checkpoints, threads, progress. */
export interface MnistRunOptions {
  steps: number;
  seed: number;
  /** Training digits, count × C × S × S (default: the training split of {@link loadMnist}). */
  data?: DigitSet;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  onProgress?: (p: ImageTrainProgress) => void;
}

/** The parts of nn/train.ts's spec that come straight from {@link MnistRunOptions}. */
export function runSpec(o: MnistRunOptions): Pick<MnistRunOptions, 'threads' | 'checkpointDir' | 'checkpointEvery' | 'resume' | 'onProgress'> {
  return { threads: o.threads, checkpointDir: o.checkpointDir, checkpointEvery: o.checkpointEvery, resume: o.resume, onProgress: o.onProgress };
}

export interface MnistDenoiserTrainOptions extends MnistRunOptions {
  /** Default 64. */
  batch?: number;
  /** Default 2e−3. */
  lr?: number;
  /** Steps of linear learning-rate warm-up (default 0). */
  warmup?: number;
  /** After the warm-up: 'none' (constant, the default) or 'cosine' (down to 0 at the last step). */
  lrDecay?: LrDecay;
  /** Default 0.995. */
  emaDecay?: number;
  config?: ImageUnetConfig;
}

/**
 * The ε-prediction loss of a batch of `batch` noised images, for nn/train.ts: data inputs `x`
 * (x_t, batch × C × S × S), `timesteps` (float32 [batch], original 0-based steps) and `eps` (the
 * noise drawn, like x); loss = mean (ε̂(x_t, t) − ε)² over every element (guided-diffusion's
 * `loss_type = MSE`).
 */
export function mnistDenoiserLoss(config: ImageUnetConfig, batch: number): (g: Graph, params: Record<string, Value>) => Value {
  const { inChannels: C, imageSize: S } = config;
  return (g, params) => {
    const x = g.input('x', [batch, C, S, S]);
    const timesteps = g.input('timesteps', [batch]);
    const eps = g.input('eps', [batch, C, S, S]);
    const d = g.sub(imageUnetGraph(g, params, config, x, timesteps), eps);
    return g.mean(g.mul(d, d));
  };
}

/**
 * Trains the image U-Net as DDPM's ε-prediction model (fixed variance) on onnxruntime
 * (nn/train.ts: Adam, EMA of the weights, resumable checkpoints): per step a batch of training
 * digits (per-epoch shuffles of createRng(seed, 2, epoch)), noise ε then original steps t uniform
 * in 0 … 999 from createRng(seed, 1, step), x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε, loss
 * {@link mnistDenoiserLoss}. Initial weights from createRng(seed, 0) (see `initImageUnet`).
 */
export async function trainMnistDenoiser(o: MnistDenoiserTrainOptions): Promise<ImageTrainResult> {
  const config = o.config ?? MNIST_UNET_CONFIG;
  const batch = checkInt('batch', o.batch ?? 64, 1, 4096);
  const lr = checkNumber('lr', o.lr ?? 2e-3, 0, 1);
  const emaDecay = checkNumber('emaDecay', o.emaDecay ?? 0.995, 0, 1);
  const seed = checkInt('seed', o.seed, 0);
  const warmup = checkInt('warmup', o.warmup ?? 0, 0, 1e7);
  const lrDecay = resolveVariant('lr-decay', o.lrDecay ?? 'none', LR_DECAYS);
  const data = o.data ?? loadMnist().train;
  const S = config.imageSize;
  const shapes = imageUnetParamShapes(config);
  const px = S * S * config.inChannels;
  if (data.images.length !== data.count * px) throw new ParamError('data', `training images must be ${config.inChannels}×${S}×${S}`);
  const T = MNIST_DIFFUSION.originalSteps;
  const ab = createImageDiffusion({ schedule: MNIST_DIFFUSION.schedule, originalSteps: T, respacing: String(T) }).alphasCumprod;
  const batches = new EpochBatches(data.count, seed);
  return trainModel({
    model: 'mnist-unet',
    config,
    shapes,
    init: initImageUnet(config, createRng(seed, 0)),
    // A cosine decay depends on the total steps: a resumed run must keep them.
    settings: { seed, batch, lr, emaDecay, data: data.count, schedule: `${MNIST_DIFFUSION.schedule}/${T}`, warmup, lrDecay, ...(lrDecay === 'cosine' ? { steps: o.steps } : {}) },
    steps: o.steps,
    batch,
    lossGraph: mnistDenoiserLoss(config, batch),
    feeds: (step) => {
      const rng = createRng(seed, 1, step);
      const idx = batches.indices(step * batch, batch);
      const xt = new Float32Array(batch * px);
      const eps = new Float32Array(batch * px);
      rng.fillNormal(eps);
      const timesteps = new Float32Array(batch);
      for (let i = 0; i < batch; i++) {
        const t = rng.nextInt(T);
        timesteps[i] = t;
        const a = Math.sqrt(ab[t]);
        const s = Math.sqrt(1 - ab[t]);
        const src = idx[i] * px;
        for (let j = 0; j < px; j++) xt[i * px + j] = a * data.images[src + j] + s * eps[i * px + j];
      }
      return { x: xt, timesteps, eps };
    },
    lr: learningRate(lr, warmup, lrDecay, o.steps),
    emaDecay,
    ...runSpec(o),
  });
}
