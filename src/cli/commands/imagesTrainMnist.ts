import type { Command } from 'commander';
import { join } from 'node:path';
import { packageVersion } from '../../core/packageVersion.ts';
import { MNIST_RECIPE, trainMnistModels } from '../../mnist/train.ts';
import { MNIST_UNET_CONFIG, validateImageUnetConfig, type ImageUnetConfig } from '../../mnist/unet.ts';
import { ParamError } from '../../core/errors.ts';
import { refuseExisting } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { OPTIONS } from '../../core/options.ts';
import { addOption, parseInteger, parseIntegerList, parseOption } from '../parse.ts';
import { startTrainingProgress } from '../progress.ts';
import { runInfo } from '../runInfo.ts';

interface TrainMnistOptionValues {
  out: string;
  checkpoints?: string;
  steps: string;
  classifierSteps: string;
  seed: string;
  resume?: boolean;
  overwrite?: boolean;
  threads?: string;
  channels?: string;
}

/** `hierdiff images train-mnist`: the shipped MNIST models trained from scratch. */
export function registerImagesTrainMnist(images: Command, argv: readonly string[]): void {
  const cmd = images
    .command('train-mnist')
    .description(
      'train the MNIST diffusion model and digit classifier from scratch (onnxruntime on --threads cores; about 2.5 hours on one core with the defaults), export both to ONNX and write card.json (the recipe of the shipped models)',
    )
    .option('--out <dir>', 'folder for denoiser.onnx, classifier.onnx, card.json', 'mnist-models')
    .option('--checkpoints <dir>', 'checkpoint folder, written every 100 steps (default: OUT/checkpoints)');
  addOption(cmd, OPTIONS.steps, { help: 'diffusion model training steps', default: String(MNIST_RECIPE.denoiser.steps) });
  cmd.option('--classifier-steps <n>', 'classifier training steps', String(MNIST_RECIPE.classifier.steps));
  cmd.option(
    '--channels <list>',
    `the diffusion U-Net's channels per level, one level per entry, each a multiple of ${MNIST_UNET_CONFIG.groups} (default: the shipped ${MNIST_UNET_CONFIG.channels.join(',')})`,
  );
  addOption(cmd, OPTIONS.seed, { help: 'seed of initialisation, batches and noise', default: String(MNIST_RECIPE.seed) });
  cmd.option('--resume', 'continue from the checkpoints (same options required)').option('--overwrite', 'start afresh where --out holds models or checkpoints (they are replaced)');
  addOption(cmd, OPTIONS.threads);
  cmd.action(async (o: TrainMnistOptionValues) => {
    const bars: Record<string, ReturnType<typeof startTrainingProgress>> = {};
    // Trained models and checkpoints are never replaced silently: continue them, or say --overwrite.
    const checkpoints = o.checkpoints ?? join(o.out, 'checkpoints');
    const outputs = [...['denoiser.onnx', 'classifier.onnx', 'card.json'].map((n) => join(o.out, n)), ...['classifier', 'denoiser'].map((m) => join(checkpoints, m, 'checkpoint.json'))];
    refuseExisting('out', o.out, outputs, { resume: o.resume, overwrite: o.overwrite, resumable: true });
    const unhook = explainInterrupt('images train-mnist', resumeHint(`the last checkpoints are in ${checkpoints}, written every 100 steps`));
    const card = await trainMnistModels({
      out: o.out,
      checkpoints: o.checkpoints,
      denoiserSteps: parseInteger('steps', o.steps, 1, 1e7),
      classifierSteps: parseInteger('classifier-steps', o.classifierSteps, 1, 1e7),
      seed: parseInteger('seed', o.seed, 0),
      ...(o.channels === undefined ? {} : { denoiserConfig: channelsConfig(o.channels) }),
      resume: o.resume ?? false,
      threads: o.threads === undefined ? undefined : parseOption(OPTIONS.threads, o.threads),
      version: packageVersion(),
      command: runInfo(argv.filter((a, i) => a !== '--resume' && a !== '--out' && argv[i - 1] !== '--out' && a !== '--checkpoints' && argv[i - 1] !== '--checkpoints')).command,
      onProgress: (model, p) => {
        bars[model] ??= startTrainingProgress(`train ${model}`, p.steps);
        bars[model].tick(p);
        if (p.step === p.steps) bars[model].stop();
      },
    }).finally(unhook);
    process.stderr.write(
      `images train-mnist: classifier held-out accuracy ${(100 * card.classifier.heldOutAccuracy).toFixed(1)}%, denoiser final loss ${card.denoiser.training.finalLoss.toFixed(4)} -> ${o.out}\n`,
    );
  });
}

/** The shipped U-Net with other channels per level, checked here so that the error names --channels. */
function channelsConfig(text: string): ImageUnetConfig {
  const config = { ...MNIST_UNET_CONFIG, channels: parseIntegerList('channels', text, 1, 4096, true) };
  try {
    return validateImageUnetConfig(config);
  } catch (e) {
    if (e instanceof ParamError)
      throw new ParamError(
        'channels',
        `invalid --channels "${text}": ${e.message} (1 to 6 levels, each a multiple of ${MNIST_UNET_CONFIG.groups}; the image size ${MNIST_UNET_CONFIG.imageSize} must halve at every level)`,
      );
    throw e;
  }
}
