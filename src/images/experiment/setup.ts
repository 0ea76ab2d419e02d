import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { checkInt, ParamError, resolveVariant } from '../../core/errors.ts';
import { createImageDiffusion, type ImageDiffusion } from '../diffusion/imageDiffusion.ts';
import { resolveVarianceMode, VARIANCE_MODES, type SamplerSpec, type VarianceMode } from '../diffusion/sampler.ts';
import { listImages, type ImageEntry } from '../io/listImages.ts';
import { checkDecodable, classifierInput, loadForDiffusion, toUint8, type ClassifierPreset } from '../io/preprocess.ts';
import { OnnxClassifier } from '../models/classifier.ts';
import { OnnxDenoiser } from '../models/denoiser.ts';
import { tensorDims, type Device } from '../../nn/session.ts';
import type { ClassifierStats } from './layerStats.ts';
import type { ImagesRunConfig, ModelFileInfo } from './resultsFile.ts';

/** What a user gives to run the image experiment (the CLI's options, parsed). */
export interface ImagesExperimentInput {
  model: string;
  classifier: string;
  images: string;
  perClass?: number;
  classIndexFile?: string;
  /** Side of the diffusion model's square input when the model leaves it symbolic. */
  imageSize?: number;
  schedule?: string;
  diffusionSteps?: number;
  respacing?: string;
  /** Steps k ∈ 1 … K; default the ten steps K/10, 2K/10, …, K (rounded). */
  steps?: number[];
  publishedOffset?: boolean;
  sampler?: SamplerSpec;
  variance?: VarianceMode | 'auto';
  timestepInput?: 'original' | 'spaced';
  inputName?: string;
  timestepName?: string;
  outputName?: string;
  classifierInputName?: string;
  logitsName?: string;
  layers?: string[];
  classifierPreset?: ClassifierPreset;
  classifierResize?: number;
  trajectories?: number;
  seed?: number;
  batchSize?: number;
  classifierBatchSize?: number;
  device?: Device;
  patch?: number;
  examples?: number;
  /** Whitening statistics (from `hierdiff images stats`); computed on the run's clean images when absent. */
  stats?: ClassifierStats;
  /** sha256 of the stats file (recorded in the config). */
  statsSha256?: string;
}

/** Opened models, the image list and the process: everything a run needs besides its output. */
export interface ImagesExperiment {
  config: ImagesRunConfig;
  diffusion: ImageDiffusion;
  denoiser: OnnxDenoiser;
  classifier: OnnxClassifier;
  entries: ImageEntry[];
  channels: 1 | 3;
  size: number;
  classifierShape: [number, number, number];
  classifierBatchSize: number;
  device: Device;
  stats: ClassifierStats | null;
  release(): Promise<void>;
}

/** Size and sha256 of a model file (streams nothing: model files are read whole, as onnxruntime does). */
export function modelFileInfo(path: string): ModelFileInfo {
  const bytes = statSync(path).size;
  return { path, bytes, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

/** The ten default steps K/10 … K, rounded and distinct. */
export function defaultSteps(K: number): number[] {
  return [...new Set(Array.from({ length: 10 }, (_, i) => Math.max(1, Math.round(((i + 1) * K) / 10))))];
}

/** The run's settings that need no file: checked, with their defaults. */
interface RunSettings {
  trajectories: number;
  seed: number;
  batchSize: number;
  classifierBatchSize: number;
  examples: number;
  device: Device;
  timestepInput: 'original' | 'spaced';
  variance: VarianceMode | 'auto';
  preset: ClassifierPreset;
  diffusion: ImageDiffusion;
  /** Ascending and distinct. */
  steps: number[];
}

/** Checks the numbers and names of the input and builds the diffusion process (opens nothing). */
function checkRunSettings(input: ImagesExperimentInput): RunSettings {
  const trajectories = checkInt('trajectories', input.trajectories ?? 1, 1, 1000);
  const seed = checkInt('seed', input.seed ?? 0, 0);
  const batchSize = checkInt('batch-size', input.batchSize ?? 8, 1, 4096);
  const classifierBatchSize = checkInt('classifier-batch-size', input.classifierBatchSize ?? batchSize, 1, 4096);
  const examples = checkInt('examples', input.examples ?? 4, 0, 1000);
  const device = input.device ?? 'cpu';
  const timestepInput = resolveVariant('timestep-input', input.timestepInput ?? 'original', ['original', 'spaced'] as const);
  const variance = resolveVariant('variance', input.variance ?? 'auto', ['auto', ...VARIANCE_MODES] as const);
  const preset = resolveVariant('classifier-preset', input.classifierPreset ?? 'identity', ['identity', 'imagenet'] as const);
  const diffusion = createImageDiffusion({ schedule: input.schedule, originalSteps: input.diffusionSteps, respacing: input.respacing ?? '250' });
  const K = diffusion.steps;
  const steps = [...(input.steps ?? defaultSteps(K))];
  for (const k of steps) checkInt('steps', k, 1, K);
  if (new Set(steps).size !== steps.length) throw new ParamError('steps', `invalid --steps ${steps.join(',')} (values must be distinct)`);
  steps.sort((a, b) => a - b);
  return { trajectories, seed, batchSize, classifierBatchSize, examples, device, timestepInput, variance, preset, diffusion, steps };
}

/** Opens the diffusion model; one whose image dims are symbolic is reopened at --image-size when given. */
async function openDenoiser(input: ImagesExperimentInput, batchSize: number, device: Device): Promise<OnnxDenoiser> {
  const denoiserOptions = { inputName: input.inputName, timestepName: input.timestepName, outputName: input.outputName, batchSize, device };
  const denoiser = await OnnxDenoiser.open(input.model, denoiserOptions);
  if (denoiser.inputShape || input.imageSize === undefined) return denoiser;
  // Symbolic image dims: reopen with the size given (channels from the model, else RGB).
  const declared = tensorDims(denoiser.session, denoiser.inputName, 'input')?.[1] ?? null;
  await denoiser.release();
  return OnnxDenoiser.open(input.model, { ...denoiserOptions, imageShape: [declared ?? 3, input.imageSize, input.imageSize] });
}

/** The diffusion model's image channels and side: 1 or 3 channels, square, and the --image-size given. */
function checkImageShape(input: ImagesExperimentInput, denoiser: OnnxDenoiser): { channels: 1 | 3; size: number } {
  const shape = denoiser.inputShape;
  const channels = shape?.[0] ?? 3;
  if (channels !== 1 && channels !== 3) throw new ParamError('model', `invalid --model "${input.model}" (image input has ${channels} channels; expected 1 or 3)`);
  if (!shape) throw new ParamError('image-size', `missing --image-size (the model "${input.model}" leaves its image size symbolic)`);
  const size = shape[1];
  if (input.imageSize !== undefined && input.imageSize !== size) {
    throw new ParamError('image-size', `invalid --image-size ${input.imageSize} (the model takes ${shape[1]}×${shape[2]} images)`);
  }
  if (shape[1] !== shape[2]) throw new ParamError('model', `invalid --model "${input.model}" (image input ${shape[1]}×${shape[2]} is not square)`);
  return { channels, size };
}

/** The opened models and images a run config describes, with the checked settings. */
interface ConfigParts {
  s: RunSettings;
  denoiser: OnnxDenoiser;
  classifier: OnnxClassifier;
  classifierShape: [number, number, number];
  entries: ImageEntry[];
  channels: 1 | 3;
  size: number;
  patch: number;
}

/** The config recorded in the results header; its variance mode is the one asked ('auto': learned-range) until probed. */
function runConfig(input: ImagesExperimentInput, { s, denoiser, classifier, classifierShape: cshape, entries, channels, size, patch }: ConfigParts): ImagesRunConfig {
  const names = entries.map((e) => e.name).join('\n');
  return {
    model: {
      ...modelFileInfo(input.model),
      inputName: denoiser.inputName,
      timestepName: denoiser.timestepName,
      outputName: denoiser.outputName,
      timestepInput: s.timestepInput,
      variance: s.variance === 'auto' ? 'learned-range' : s.variance,
    },
    classifier: {
      ...modelFileInfo(input.classifier),
      inputName: classifier.inputName,
      logitsName: classifier.logitsName,
      layers: [...classifier.layerNames],
      preset: s.preset,
      size: cshape[1],
      resize: s.preset === 'imagenet' ? (input.classifierResize ?? Math.round((cshape[1] * 232) / 224)) : null,
    },
    images: { dir: input.images, perClass: input.perClass ?? null, count: entries.length, namesSha256: createHash('sha256').update(names).digest('hex') },
    imageSize: size,
    channels,
    schedule: s.diffusion.schedule,
    diffusionSteps: s.diffusion.originalSteps,
    respacing: s.diffusion.respacing,
    spacedSteps: s.diffusion.steps,
    steps: s.steps,
    publishedOffset: input.publishedOffset ?? false,
    sampler: input.sampler ?? { kind: 'ddpm' },
    trajectories: s.trajectories,
    seed: s.seed,
    batchSize: s.batchSize,
    patch,
    examples: s.examples,
    stats: input.stats ? (input.statsSha256 ?? 'given') : 'computed',
  };
}

/**
 * Validates the input, lists the images, opens both models and checks that they fit together
 * (image size and channels, classifier input). Throws a one-line ParamError for anything wrong;
 * nothing is written.
 */
export async function openImagesExperiment(input: ImagesExperimentInput): Promise<ImagesExperiment> {
  const s = checkRunSettings(input);
  const entries = listImages(input.images, { perClass: input.perClass, classIndexFile: input.classIndexFile });
  await checkDecodable(entries.map((e) => e.path));
  if (input.imageSize !== undefined) checkInt('image-size', input.imageSize, 1, 8192);

  const denoiser = await openDenoiser(input, s.batchSize, s.device);
  let classifier: OnnxClassifier | null = null;
  try {
    const { channels, size } = checkImageShape(input, denoiser);
    const patch = checkInt('patch', input.patch ?? Math.max(1, Math.ceil(size / 64)), 1, size);
    const classifierOptions = { inputName: input.classifierInputName, logitsName: input.logitsName, layerNames: input.layers, batchSize: s.classifierBatchSize, device: s.device };
    classifier = await OnnxClassifier.open(input.classifier, classifierOptions);
    const side = s.preset === 'imagenet' ? 224 : size;
    const cshape = classifier.inputShape ?? [channels, side, side];
    if (cshape[1] !== cshape[2]) throw new ParamError('classifier', `invalid --classifier "${input.classifier}" (input ${cshape[1]}×${cshape[2]} is not square)`);
    if (input.stats) checkStatsLayers(input.stats, classifier.layerNames);
    const config = runConfig(input, { s, denoiser, classifier, classifierShape: cshape, entries, channels, size, patch });
    // The variance mode needs the output channel count: one probe call on a blank image.
    const probe = await denoiser.run(new Float32Array(channels * size * size), 1, [0]);
    config.model.variance = resolveVarianceMode(s.variance, channels, probe.outputChannels);
    denoiser.calls = 0;
    denoiser.callSeconds = 0;
    const c = classifier;
    return {
      config,
      diffusion: s.diffusion,
      denoiser,
      classifier: c,
      entries,
      channels,
      size,
      classifierShape: cshape,
      classifierBatchSize: s.classifierBatchSize,
      device: s.device,
      stats: input.stats ?? null,
      release: async () => {
        await denoiser.release();
        await c.release();
      },
    };
  } catch (e) {
    await denoiser.release();
    await classifier?.release();
    throw e;
  }
}

/** Checks that whitening statistics name exactly the classifier's probed layers. */
export function checkStatsLayers(stats: ClassifierStats, layers: readonly string[]): void {
  const names = stats.layers.map((l) => l.name);
  if (names.length !== layers.length || names.some((n, i) => n !== layers[i])) {
    throw new ParamError(
      'stats',
      `invalid --stats (its layers ${names.slice(0, 4).join(', ')}${names.length > 4 ? ', …' : ''} are not the classifier's probed layers ${layers.slice(0, 4).join(', ')}${layers.length > 4 ? ', …' : ''})`,
    );
  }
}

/** Reads an image at the diffusion model's size, [−1, 1], CHW. */
export function loadImage(exp: Pick<ImagesExperiment, 'size' | 'channels'>, entry: ImageEntry): Promise<Float32Array> {
  return loadForDiffusion(entry.path, exp.size, exp.channels);
}

/**
 * The classifier's input for images at the diffusion model's size (CHW in [−1, 1], concatenated):
 * saved as uint8 the published way, then the classifier's preprocessing.
 */
export async function classifierBatch(exp: Pick<ImagesExperiment, 'size' | 'channels' | 'classifierShape' | 'config'>, images: readonly Float32Array[]): Promise<Float32Array> {
  const [cc, cs] = exp.classifierShape;
  const per = cc * cs * cs;
  const out = new Float32Array(images.length * per);
  for (let i = 0; i < images.length; i++) {
    const u8 = toUint8(images[i], exp.channels);
    const x = await classifierInput(u8, exp.size, exp.size, exp.channels, exp.config.classifier.preset, { size: cs, resize: exp.config.classifier.resize ?? undefined, channels: cc });
    out.set(x, i * per);
  }
  return out;
}
