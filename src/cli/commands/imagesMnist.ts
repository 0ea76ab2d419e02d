import type { Command } from 'commander';
import { ParamError } from '../../core/errors.ts';
import { OnnxDenoiser } from '../../images/models/denoiser.ts';
import { sampleUnconditional } from '../../images/experiment/unconditional.ts';
import { imageGrid } from '../../images/io/writeImages.ts';
import { prepareMnistDemo } from '../../mnist/demo.ts';
import { MNIST_MODELS_DIR } from '../../mnist/shipped.ts';
import { MNIST_RECIPE, trainMnistModels } from '../../mnist/train.ts';
import { checkOutputFile, checkReportFolder, refuseExisting, refuseExistingFiles, writeFileAtomic } from '../files.ts';
import { parseInteger } from '../parse.ts';
import { startProgress, startTrainingProgress } from '../progress.ts';
import { addSamplingOptions, parseSamplingOptions, type SamplingOptionValues } from '../samplingOptions.ts';
import { runInfo } from '../runInfo.ts';
import { packageVersion } from '../../core/packageVersion.ts';
import { finishRun, imagesRunOutputs, runWithProgress } from './imagesFinish.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { resultsFileName } from '../../images/experiment/resultsFile.ts';
import { join } from 'node:path';

interface DemoOptionValues {
  quick?: boolean;
  out: string;
  perClass?: string;
  trajectories: string;
  seed: string;
  batchSize: string;
  models: string;
  report?: boolean;
  resume?: boolean;
  overwrite?: boolean;
}

interface TrainMnistOptionValues {
  out: string;
  checkpoints?: string;
  steps: string;
  classifierSteps: string;
  seed: string;
  resume?: boolean;
  overwrite?: boolean;
  threads?: string;
}

interface SampleOptionValues extends SamplingOptionValues {
  model: string;
  count: string;
  columns: string;
  out: string;
  overwrite?: boolean;
}

/** `hierdiff images demo` and `hierdiff images sample`: the MNIST experiment in one command, and unconditional samples. */
export function registerMnistCommands(images: Command, argv: readonly string[]): void {
  images
    .command('demo')
    .description('the image forward–backward experiment on held-out MNIST digits with the shipped diffusion model and classifier: results, summary.json, figures, report.html (docs/images.md)')
    .option('--quick', 'the test-suite size: 2 digits per class, t/T = 0.2 … 1.0 (under a minute)')
    .option('--out <dir>', 'output folder', 'mnist-demo')
    .option('--per-class <n>', 'held-out digits per class (default 20, --quick 2; at most 100)')
    .option('--trajectories <K>', 'round trips per digit and step (χ needs 2)', '2')
    .option('--seed <n>', 'seed of the noise', '0')
    .option('--batch-size <n>', 'images per model call', '64')
    .option('--models <dir>', 'models folder (denoiser.onnx, classifier.onnx, card.json)', MNIST_MODELS_DIR)
    .option('--no-report', 'skip the figures and report.html')
    .option('--resume', 'continue an interrupted demo in --out: keep its finished units')
    .option('--overwrite', 'replace the results and report already in --out')
    .action(async (o: DemoOptionValues) => {
      const options = {
        out: o.out,
        quick: o.quick ?? false,
        perClass: o.perClass === undefined ? undefined : parseInteger('per-class', o.perClass, 1, 100),
        trajectories: parseInteger('trajectories', o.trajectories, 1, 1000),
        seed: parseInteger('seed', o.seed, 0),
        batchSize: parseInteger('batch-size', o.batchSize, 1, 4096),
        modelsDir: o.models,
      };
      if (o.report !== false) checkReportFolder('out', o.out);
      // Finished results are never replaced silently (checked before the models load).
      refuseExisting('out', o.out, imagesRunOutputs(o.out, null), { resume: o.resume, overwrite: o.overwrite, resumable: true });
      const exp = await prepareMnistDemo(options);
      const unhook = explainInterrupt('images demo', resumeHint(`finished units are saved in ${join(o.out, resultsFileName(null))}`));
      try {
        // Recorded without where and how it runs (--out, --no-report, --resume, --overwrite): a resumed demo writes the same bytes.
        const kept = argv.filter((a, i) => a !== '--out' && argv[i - 1] !== '--out' && !a.startsWith('--out=') && a !== '--no-report' && a !== '--resume' && a !== '--overwrite');
        const result = await runWithProgress(exp, { outDir: o.out, resume: o.resume ?? false, overwrite: o.overwrite ?? false, version: packageVersion(), command: runInfo(kept).command });
        await finishRun(o.out, result.header, result.units, o.report !== false);
      } finally {
        unhook();
        await exp.release();
      }
    });
  images
    .command('train-mnist')
    .description('train the MNIST diffusion model and digit classifier from scratch (onnxruntime on --threads cores; about 2 hours on one core with the defaults), export both to ONNX and write card.json (the recipe of the shipped models)')
    .option('--out <dir>', 'folder for denoiser.onnx, classifier.onnx, card.json', 'mnist-models')
    .option('--checkpoints <dir>', 'checkpoint folder, written every 100 steps (default: OUT/checkpoints)')
    .option('--steps <n>', 'diffusion model training steps', String(MNIST_RECIPE.denoiser.steps))
    .option('--classifier-steps <n>', 'classifier training steps', String(MNIST_RECIPE.classifier.steps))
    .option('--seed <n>', 'seed of initialisation, batches and noise', String(MNIST_RECIPE.seed))
    .option('--resume', 'continue from the checkpoints (same options required)')
    .option('--overwrite', 'start afresh where --out holds models or checkpoints (they are replaced)')
    .option('--threads <n>', 'CPU threads of onnxruntime (default: all cores)')
    .action(async (o: TrainMnistOptionValues) => {
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
        resume: o.resume ?? false,
        threads: o.threads === undefined ? undefined : parseInteger('threads', o.threads, 1, 1024),
        version: packageVersion(),
        command: runInfo(argv.filter((a, i) => a !== '--resume' && a !== '--out' && argv[i - 1] !== '--out' && a !== '--checkpoints' && argv[i - 1] !== '--checkpoints')).command,
        onProgress: (model, p) => {
          bars[model] ??= startTrainingProgress(`train ${model}`, p.steps);
          bars[model].tick(p);
          if (p.step === p.steps) bars[model].stop();
        },
      }).finally(unhook);
      process.stderr.write(`images train-mnist: classifier held-out accuracy ${(100 * card.classifier.heldOutAccuracy).toFixed(1)}%, denoiser final loss ${card.denoiser.training.finalLoss.toFixed(4)} -> ${o.out}\n`);
    });
  addSamplingOptions(
    images
      .command('sample')
      .description('unconditional samples of an ONNX diffusion model (full reverse chain of the respaced process), drawn as one PNG grid')
      .requiredOption('--model <file>', 'diffusion model (ONNX): inputs x and timesteps, output ε (or ε + variance)')
      .option('--count <n>', 'samples', '64')
      .option('--columns <n>', 'grid columns', '8'),
  )
    .requiredOption('--out <file>', 'PNG grid to write')
    .option('--overwrite', 'replace --out if it exists')
    .action(async (o: SampleOptionValues) => {
      const count = parseInteger('count', o.count, 1, 100000);
      const columns = parseInteger('columns', o.columns, 1, 1000);
      const { diffusion: d, variance, sampler, seed, batchSize, threads } = parseSamplingOptions(o);
      checkOutputFile('out', o.out);
      refuseExistingFiles([['out', o.out]], o.overwrite);
      const model = await OnnxDenoiser.open(o.model, { batchSize, threads });
      try {
        const shape = model.inputShape;
        if (!shape || (shape[0] !== 1 && shape[0] !== 3)) throw new ParamError('model', `invalid --model "${o.model}" (its image input must have a fixed 1- or 3-channel shape)`);
        const bar = startProgress('images sample', count, 'samples');
        const xs = await sampleUnconditional(model, d, { count, variance, sampler, seed, onProgress: (done) => bar.update(done) });
        bar.stop();
        const rows = Array.from({ length: Math.ceil(count / columns) }, (_, r) => xs.slice(r * columns, (r + 1) * columns));
        writeFileAtomic(o.out, await imageGrid(rows, shape[0] as 1 | 3, shape[1], shape[2], { scale: shape[1] <= 64 ? 2 : 1 }));
        process.stderr.write(`images sample: ${count} samples, ${d.steps} steps each -> ${o.out}\n`);
      } finally {
        await model.release();
      }
    });
}
