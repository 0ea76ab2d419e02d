import type { Tensor4D } from '@tensorflow/tfjs';
import { checkInt, checkNumber, ParamError } from '../core/errors.ts';
import { createRng } from '../core/random.ts';
import { createImageDiffusion } from '../images/diffusion/imageDiffusion.ts';
import { imageUnetParamShapes, initImageUnet, MNIST_UNET_CONFIG, type ImageUnetConfig } from './imageUnet.ts';
import { loadMnist, type DigitSet } from './mnist.ts';
import type { TfBackend } from './tf/backend.ts';
import { imageUnetForward } from './tf/imageUnetModel.ts';
import { EpochBatches } from './tf/train.ts';
import { trainImageModel, type ImageTrainProgress, type ImageTrainResult } from './tf/trainImageModel.ts';

/** The diffusion the MNIST model is trained for: guided-diffusion's linear schedule, T = 1000. */
export const MNIST_DIFFUSION = { schedule: 'linear', originalSteps: 1000 } as const;

export interface MnistDenoiserTrainOptions {
  steps: number;
  /** Default 64. */
  batch?: number;
  /** Default 2e−3. */
  lr?: number;
  /** Default 0.995. */
  emaDecay?: number;
  seed: number;
  config?: ImageUnetConfig;
  /** Training images, channel-last (default: the training split of {@link loadMnist}). */
  data?: DigitSet;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  onProgress?: (p: ImageTrainProgress) => void;
  backend?: TfBackend;
}

/**
 * Trains the image U-Net as DDPM's ε-prediction model (fixed variance; guided-diffusion's
 * `loss_type = MSE`): per step a batch of training digits (per-epoch shuffles of
 * createRng(seed, 2, epoch)), original steps t uniform in 0 … 999 and noise ε from
 * createRng(seed, 1, step), x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε, loss = mean (ε̂(x_t, t) − ε)².
 * Initial weights from createRng(seed, 0).
 */
export async function trainMnistDenoiser(o: MnistDenoiserTrainOptions): Promise<ImageTrainResult> {
  const config = o.config ?? MNIST_UNET_CONFIG;
  const batch = checkInt('batch', o.batch ?? 64, 1, 4096);
  const lr = checkNumber('lr', o.lr ?? 2e-3, 0, 1);
  const seed = checkInt('seed', o.seed, 0);
  const data = o.data ?? loadMnist().train;
  const S = config.imageSize;
  const px = S * S * config.inChannels;
  if (data.images.length !== data.count * px) throw new ParamError('data', `training images must be ${S}×${S}×${config.inChannels}`);
  const T = MNIST_DIFFUSION.originalSteps;
  const ab = createImageDiffusion({ schedule: MNIST_DIFFUSION.schedule, originalSteps: T, respacing: String(T) }).alphasCumprod;
  const batches = new EpochBatches(data.count, seed);
  const shapes = imageUnetParamShapes(config);
  return trainImageModel({
    model: 'mnist-unet',
    config,
    shapes,
    init: initImageUnet(config, createRng(seed, 0)),
    settings: { seed, batch, lr, emaDecay: o.emaDecay ?? 0.995, data: data.count, schedule: `${MNIST_DIFFUSION.schedule}/${T}` },
    steps: o.steps,
    lr,
    emaDecay: o.emaDecay ?? 0.995,
    checkpointDir: o.checkpointDir,
    checkpointEvery: o.checkpointEvery,
    resume: o.resume,
    onProgress: o.onProgress,
    backend: o.backend,
    batch: (tf, step) => {
      const rng = createRng(seed, 1, step);
      const idx = batches.indices(step * batch, batch);
      const xt = new Float32Array(batch * px);
      const eps = new Float32Array(batch * px);
      rng.fillNormal(eps);
      const t = new Int32Array(batch);
      for (let i = 0; i < batch; i++) {
        t[i] = rng.nextInt(T);
        const a = Math.sqrt(ab[t[i]]);
        const s = Math.sqrt(1 - ab[t[i]]);
        const src = idx[i] * px;
        for (let j = 0; j < px; j++) xt[i * px + j] = a * data.images[src + j] + s * eps[i * px + j];
      }
      const x = tf.tensor4d(xt, [batch, S, S, config.inChannels]);
      const e = tf.tensor4d(eps, [batch, S, S, config.inChannels]);
      return {
        inputs: [x, e],
        loss: (vars) => tf.mean(tf.square(tf.sub(imageUnetForward(tf, vars, config, x as Tensor4D, t), e))),
      };
    },
  });
}
