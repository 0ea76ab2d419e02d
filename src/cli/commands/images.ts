import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import { createImageDiffusion, imageDiffusionToJson } from '../../images/diffusion/imageDiffusion.ts';
import { parseSampler, VARIANCE_MODES, type VarianceMode } from '../../images/diffusion/sampler.ts';
import type { ClassifierPreset } from '../../images/io/preprocess.ts';
import { DEVICES } from '../../nn/session.ts';
import { mergeImagesShards } from '../../images/experiment/resultsFile.ts';
import { openImagesExperiment, type ImagesExperimentInput } from '../../images/experiment/setup.ts';
import { computeClassifierStats, validateClassifierStats } from '../../images/experiment/stats.ts';
import { checkReportFolder, readJsonFile, refuseExisting, refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { parseInteger, parseIntegerList } from '../parse.ts';
import { startProgress } from '../progress.ts';
import { runInfo } from '../runInfo.ts';
import { packageVersion } from '../../core/packageVersion.ts';
import { parseShard } from '../../sweep/shard.ts';
import { finishRun, imagesRunOutputs, runWithProgress } from './imagesFinish.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { resultsFileName } from '../../images/experiment/resultsFile.ts';
import { join } from 'node:path';
import { registerMnistCommands } from './imagesMnist.ts';
import { registerImagesScore } from './imagesScore.ts';

interface ScheduleOptionValues {
  schedule: string;
  steps: string;
  respacing?: string;
  out?: string;
}

/** `hierdiff images …`: the image half of the paper (docs/images.md). */
export function registerImages(program: Command, argv: readonly string[]): Command {
  const images = program.command('images').description('forward–backward on image diffusion models (ONNX): schedules, classifier statistics, the experiment');
  images
    .command('schedule')
    .description('the arrays of a (respaced) Gaussian diffusion, guided-diffusion conventions, 0-based indices (docs/science.md §6.1)')
    .option('--schedule <name>', 'linear or cosine', 'linear')
    .option('--steps <T>', 'steps of the original process', '1000')
    .option('--respacing <spec>', 'steps to keep: a count ("250"), section counts ("10,15,20") or "ddimN" (default: all T)')
    .option('--out <file>', 'write the JSON here (default: standard output)')
    .action((o: ScheduleOptionValues) => {
      // Linear betas scale as 1000/T and must stay ≤ 1: T ≥ 20.
      const T = parseInteger('steps', o.steps, o.schedule === 'linear' ? 20 : 2, 100000);
      const d = createImageDiffusion({ schedule: o.schedule, originalSteps: T, respacing: o.respacing ?? String(T) });
      const text = toJsonText(imageDiffusionToJson(d));
      if (o.out) {
        writeFileAtomic(o.out, text);
        process.stderr.write(`images schedule: ${d.steps} steps of ${T} (${d.schedule}) -> ${o.out}\n`);
      } else {
        process.stdout.write(text);
      }
    });
  addExperimentOptions(
    images
      .command('stats')
      .description('per-channel mean and mean square of every probed classifier layer on clean images: the whitening statistics (docs/science.md §6)')
      .requiredOption('--out <file>', 'statistics file (JSON)')
      .option('--overwrite', 'replace --out if it exists'),
    false,
  ).action(async (o: ExperimentOptionValues & { out: string; overwrite?: boolean }) => {
    const input = experimentInput(o);
    refuseExistingFiles([['out', o.out]], o.overwrite);
    const exp = await openImagesExperiment(input);
    try {
      const bar = startProgress('images stats', exp.entries.length, 'images');
      const stats = await computeClassifierStats(exp, (done) => bar.update(done));
      bar.stop();
      writeFileAtomic(o.out, toJsonText(stats));
      process.stderr.write(`images stats: ${stats.layers.length} layers over ${stats.images} images -> ${o.out}\n`);
    } finally {
      await exp.release();
    }
  });
  addExperimentOptions(
    images
      .command('forward-backward')
      .description('noise each image to step k, denoise it back with the model, and measure with the classifier what changed (docs/images.md)')
      .option('--steps <list>', 'spaced steps k (1 … K) to run, t/T = k/K (default: K/10, 2K/10, …, K)')
      .option('--published-offset', 'noise to index k (pure noise at k = K) but start the reverse chain at k−1, as the published code does (default: noise to k−1, start at k−1)')
      .option('--trajectories <K>', 'round trips per image and step (χ and C(r) need K ≥ 2)', '1')
      .option('--seed <n>', 'seed of the noise (each image, step and trajectory has its own stream)', '0')
      .option('--sampler <name>', 'ddpm (ancestral) or ddim[:η]', 'ddpm')
      .option('--patch <p>', 'patch side for the change correlations χ and C(r) (default: image size / 64, at least 1)')
      .option('--examples <n>', 'save original, noised and generated PNGs of the first n images (trajectory 0)', '4')
      .option('--stats <file>', 'whitening statistics from `hierdiff images stats` (default: computed on these images, saved as OUT/stats.json)')
      .option('--shard <i/N>', 'run shard i of N (units image × step, round robin); writes OUT/results.shard-i-of-N.jsonl')
      .option('--resume', 'continue OUT/results.jsonl: keep its finished units')
      .option('--overwrite', 'replace an existing results file')
      .option('--no-report', 'skip the figures and report.html')
      .requiredOption('--out <dir>', 'output folder: results.jsonl, summary.json, stats.json, examples/, figures/, report.html'),
    true,
  ).action(async (o: ForwardBackwardOptionValues) => {
    const input = experimentInput(o);
    input.steps = o.steps === undefined ? undefined : parseIntegerList('steps', o.steps, 1, 100000);
    input.publishedOffset = o.publishedOffset ?? false;
    input.trajectories = parseInteger('trajectories', o.trajectories, 1, 1000);
    input.seed = parseInteger('seed', o.seed, 0);
    input.sampler = parseSampler(o.sampler);
    input.patch = o.patch === undefined ? undefined : parseInteger('patch', o.patch, 1, 8192);
    input.examples = parseInteger('examples', o.examples, 0, 1000);
    if (o.stats !== undefined) {
      input.stats = validateClassifierStats(readJsonFile('stats', o.stats), o.stats);
      input.statsSha256 = createHash('sha256').update(readFileSync(o.stats)).digest('hex');
    }
    const shard = o.shard === undefined ? null : parseShard(o.shard);
    // The report is written after the run: refuse an output folder it could not be written into now.
    if (!shard && o.report !== false) checkReportFolder('out', o.out);
    // Finished results are never replaced silently (checked before the models load).
    refuseExisting('out', o.out, imagesRunOutputs(o.out, shard), { resume: o.resume, overwrite: o.overwrite, resumable: true });
    const exp = await openImagesExperiment(input);
    const unhook = explainInterrupt('images forward-backward', resumeHint(`finished units are saved in ${join(o.out, resultsFileName(shard))}`));
    try {
      const result = await runWithProgress(exp, {
        outDir: o.out,
        resume: o.resume ?? false,
        overwrite: o.overwrite ?? false,
        shard,
        version: packageVersion(),
        command: runInfo(resultsArgv(argv)).command,
      });
      if (shard) process.stderr.write(`images forward-backward: shard ${shard.index}/${shard.count} done; when every shard is, run: hierdiff images merge ${o.out}\n`);
      else await finishRun(o.out, result.header, result.units, o.report !== false);
    } finally {
      unhook();
      await exp.release();
    }
  });
  images
    .command('merge')
    .description('merge the shard files of a sharded forward-backward run into OUT/results.jsonl, then write summary.json and the report')
    .argument('<out>', 'the output folder the shards wrote to')
    .option('--no-report', 'skip the figures and report.html')
    .action(async (out: string, o: { report?: boolean }) => {
      // The argument, not an option: say what it must be before any check that names --out.
      const kind = statSync(out, { throwIfNoEntry: false });
      if (!kind?.isDirectory()) throw new ParamError('out', `invalid folder "${out}" (${kind ? 'not a folder' : 'not found'}; images merge takes the --out folder of a sharded images forward-backward run)`);
      if (o.report !== false) checkReportFolder('out', out);
      const merged = mergeImagesShards(out, (path, text) => writeFileAtomic(path, text));
      process.stderr.write(`images merge: ${merged.shards} shards, ${merged.units.length} units -> ${merged.path}\n`);
      await finishRun(out, merged.header, merged.units, o.report !== false);
    });
  registerMnistCommands(images, argv);
  registerImagesScore(images, argv);
  return images;
}

interface ExperimentOptionValues {
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

interface ForwardBackwardOptionValues extends ExperimentOptionValues {
  steps?: string;
  publishedOffset?: boolean;
  trajectories: string;
  seed: string;
  sampler: string;
  patch?: string;
  examples: string;
  stats?: string;
  shard?: string;
  resume?: boolean;
  overwrite?: boolean;
  report?: boolean;
  out: string;
}

/**
 * Options shared by `images stats` and `images forward-backward`: the images, the classifier, and
 * the diffusion model's image input (its size and channels are those the images are loaded at).
 * `diffusion` adds the options only the experiment uses (schedule, sampler arithmetic, labels, batches).
 */
function addExperimentOptions(cmd: Command, diffusion: boolean): Command {
  cmd.requiredOption(
    '--model <file>',
    diffusion
      ? 'diffusion model (ONNX): inputs x (N×C×H×W) and timesteps (N), output ε or ε + variance (2C channels)'
      : 'the diffusion model (ONNX) of the experiment: only its image input is read, whose size and channels the images are loaded at (as images forward-backward does)',
  )
    .requiredOption('--classifier <file>', 'classifier (ONNX): first output the logits, every other output a probed layer, in depth order')
    .requiredOption('--images <dir>', 'folder of PNG/JPEG images (labels from subfolders or ImageNet <wnid>_*.JPEG names)')
    .option('--per-class <n>', 'first n images of each class, in name order (every class needs n)');
  if (diffusion) cmd.option('--class-index <file>', 'class names one per line: line number = the classifier\'s class index (for classKeptLabel)');
  cmd.option('--image-size <n>', 'side of the model\'s square images, when the model leaves it symbolic');
  if (diffusion) {
    cmd
      .option('--schedule <name>', 'noise schedule the model was trained with: linear or cosine', 'linear')
      .option('--diffusion-steps <T>', 'steps of the model\'s original process', '1000')
      .option('--respacing <spec>', 'steps kept: a count ("250"), section counts ("10,15,20") or "ddimN"', '250')
      .option('--variance <mode>', `reverse-step variance: auto (learned-range when the model outputs 2C channels, else fixed-large), ${VARIANCE_MODES.join(', ')}`, 'auto')
      .option('--timestep-input <kind>', 'what the model\'s timestep input means: original (index 0 … T−1 through the respacing map, guided-diffusion) or spaced (0 … K−1)', 'original');
  }
  cmd.option('--input-name <name>', 'image input of the model', 'x').option('--timestep-name <name>', 'timestep input of the model', 'timesteps');
  if (diffusion) cmd.option('--output-name <name>', 'output of the model (default: its first)');
  cmd
    .option('--classifier-input <name>', 'image input of the classifier (default: its first)')
    .option('--logits-name <name>', 'logits output of the classifier (default: its first)')
    .option('--layers <names>', 'probed layers, comma-separated (default: every output but the logits)')
    .option('--classifier-preset <name>', 'classifier preprocessing: identity ([−1, 1], resized to its input) or imagenet (short side 232 bilinear, centre crop 224, ImageNet mean/std)', 'identity')
    .option('--classifier-resize <n>', 'imagenet preset: short side before the crop (default: size·232/224)');
  if (diffusion) cmd.option('--batch-size <n>', 'images per model call', '8').option('--classifier-batch-size <n>', 'images per classifier call (default: --batch-size)');
  else cmd.option('--classifier-batch-size <n>', 'images per classifier call', '8');
  cmd.option('--device <name>', `execution provider: ${DEVICES.join(' or ')} (cuda needs onnxruntime-node's CUDA files, see docs/images.md)`, 'cpu');
  return cmd;
}

function experimentInput(o: ExperimentOptionValues): ImagesExperimentInput {
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

/**
 * The command recorded in results: without the options that say how or where to run, not what
 * (--out, --shard, --resume, --overwrite, --no-report), so a resumed, moved or sharded run writes
 * the same bytes.
 */
function resultsArgv(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' || a === '--shard') i++;
    else if (!a.startsWith('--out=') && !a.startsWith('--shard=') && a !== '--resume' && a !== '--overwrite' && a !== '--no-report') kept.push(a);
  }
  return kept;
}
