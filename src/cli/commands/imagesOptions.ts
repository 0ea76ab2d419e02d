import type { Command } from 'commander';
import { resolveVariant } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import { VARIANCE_MODES, type VarianceMode } from '../../images/diffusion/sampler.ts';
import type { ClassifierPreset } from '../../images/io/preprocess.ts';
import type { ImagesExperimentInput } from '../../images/experiment/setup.ts';
import { DEVICES } from '../../nn/session.ts';
import { addOption, parseInteger } from '../parse.ts';
import { SLURM_ARGS_WITH_VALUE, SLURM_FLAGS } from '../slurmArray.ts';

export interface ExperimentOptionValues {
  model: string;
  classifier: string;
  images: string;
  perClass?: string;
  classIndex?: string;
  imageSize?: string;
  /** The diffusion options (absent on `images stats`, which does not use them). */
  schedule?: string;
  diffusionSteps?: string;
  respacing?: string;
  variance?: string;
  timestepInput?: string;
  inputName?: string;
  timestepName?: string;
  outputName?: string;
  classifierInput?: string;
  logitsName?: string;
  layers?: string;
  classifierPreset: string;
  classifierResize?: string;
  batchSize?: string;
  classifierBatchSize?: string;
  device: string;
}

/**
 * Options shared by `images stats` and `images forward-backward`: the images, the classifier, and
 * the diffusion model's image input (its size and channels are those the images are loaded at).
 * `diffusion` adds the options only the experiment uses (schedule, sampler arithmetic, labels, batches).
 */
export function addExperimentOptions(cmd: Command, diffusion: boolean, required = true): Command {
  // Where another mode of the command needs none of them (--status), the command checks them itself.
  const must = (flags: string, help: string) => (required ? cmd.requiredOption(flags, help) : cmd.option(flags, help));
  must(
    '--model <file>',
    diffusion
      ? 'diffusion model (ONNX): inputs x (N×C×H×W) and timesteps (N), output ε or ε + variance (2C channels)'
      : 'the diffusion model (ONNX) of the experiment: only its image input is read, whose size and channels the images are loaded at (as images forward-backward does)',
  );
  must('--classifier <file>', 'classifier (ONNX): first output the logits, every other output a probed layer, in depth order');
  must('--images <dir>', 'folder of PNG/JPEG images (labels from subfolders or ImageNet <wnid>_*.JPEG names)');
  addOption(cmd, OPTIONS.perClass);
  if (diffusion) cmd.option('--class-index <file>', "class names one per line: line number = the classifier's class index (for classKeptLabel)");
  cmd.option('--image-size <n>', "side of the model's square images, when the model leaves it symbolic");
  if (diffusion) {
    addOption(cmd, OPTIONS.schedule, { help: 'noise schedule the model was trained with: linear or cosine' });
    addOption(cmd, OPTIONS.diffusionSteps);
    addOption(cmd, OPTIONS.respacing, { default: '250' });
    addOption(cmd, OPTIONS.variance, { help: `${OPTIONS.variance.help}: auto (learned-range when the model outputs 2C channels, else fixed-large), ${VARIANCE_MODES.join(', ')}`, default: 'auto' });
    cmd.option('--timestep-input <kind>', "what the model's timestep input means: original (index 0 … T−1 through the respacing map, guided-diffusion) or spaced (0 … K−1)", 'original');
  }
  cmd.option('--input-name <name>', 'image input of the model', 'x').option('--timestep-name <name>', 'timestep input of the model', 'timesteps');
  if (diffusion) cmd.option('--output-name <name>', 'output of the model (default: its first)');
  cmd
    .option('--classifier-input <name>', 'image input of the classifier (default: its first)')
    .option('--logits-name <name>', 'logits output of the classifier (default: its first)')
    .option('--layers <names>', 'probed layers, comma-separated (default: every output but the logits)')
    .option('--classifier-preset <name>', 'classifier preprocessing: identity ([−1, 1], resized to its input) or imagenet (short side 232 bilinear, centre crop 224, ImageNet mean/std)', 'identity')
    .option('--classifier-resize <n>', 'imagenet preset: short side before the crop (default: size·232/224)');
  if (diffusion) {
    addOption(cmd, OPTIONS.batchSize, { default: '8' });
    addOption(cmd, OPTIONS.classifierBatchSize, { help: `${OPTIONS.classifierBatchSize.help} (default: --batch-size)` });
  } else addOption(cmd, OPTIONS.classifierBatchSize, { default: '8' });
  addOption(cmd, OPTIONS.device, { help: `${OPTIONS.device.help}: ${DEVICES.join(' or ')} (cuda needs onnxruntime-node's CUDA files, see docs/images.md)` });
  return cmd;
}

export function experimentInput(o: ExperimentOptionValues): ImagesExperimentInput {
  return {
    model: o.model,
    classifier: o.classifier,
    images: o.images,
    perClass: o.perClass === undefined ? undefined : parseInteger('per-class', o.perClass, 1),
    classIndexFile: o.classIndex,
    imageSize: o.imageSize === undefined ? undefined : parseInteger('image-size', o.imageSize, 1, 8192),
    schedule: o.schedule,
    diffusionSteps: o.diffusionSteps === undefined ? undefined : parseInteger('diffusion-steps', o.diffusionSteps, 2, 100000),
    respacing: o.respacing,
    variance: o.variance === undefined ? undefined : (resolveVariant('variance', o.variance, ['auto', ...VARIANCE_MODES] as const) as VarianceMode | 'auto'),
    timestepInput: o.timestepInput === undefined ? undefined : resolveVariant('timestep-input', o.timestepInput, ['original', 'spaced'] as const),
    inputName: o.inputName,
    timestepName: o.timestepName,
    outputName: o.outputName,
    classifierInputName: o.classifierInput,
    logitsName: o.logitsName,
    layers: o.layers === undefined ? undefined : o.layers.split(',').map((s) => s.trim()),
    classifierPreset: resolveVariant('classifier-preset', o.classifierPreset, ['identity', 'imagenet'] as const) as ClassifierPreset,
    classifierResize: o.classifierResize === undefined ? undefined : parseInteger('classifier-resize', o.classifierResize, 1, 8192),
    batchSize: o.batchSize === undefined ? undefined : parseInteger('batch-size', o.batchSize, 1, 4096),
    classifierBatchSize: o.classifierBatchSize === undefined ? undefined : parseInteger('classifier-batch-size', o.classifierBatchSize, 1, 4096),
    device: resolveVariant('device', o.device, DEVICES),
  };
}

/** Options that say how or where an image run runs, not what it computes. */
const RUN_ONLY_WITH_VALUE = ['--out', '--shard', '--shard-count', ...SLURM_ARGS_WITH_VALUE];
const RUN_ONLY_FLAGS = ['--resume', '--overwrite', '--no-report', '--stats-only', ...SLURM_FLAGS];

/**
 * The command recorded in results: without the options that say how or where to run, not what
 * (--out, --shard, --resume, --overwrite, --no-report, Slurm's), so a resumed, moved, sharded or
 * Slurm run writes the same bytes. A Slurm task runs exactly these arguments.
 */
export function resultsArgv(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (RUN_ONLY_WITH_VALUE.includes(a)) i++;
    else if (!RUN_ONLY_WITH_VALUE.some((o) => a.startsWith(`${o}=`)) && !RUN_ONLY_FLAGS.includes(a)) kept.push(a);
  }
  return kept;
}
