import type { Command } from 'commander';
import { join } from 'node:path';
import { packageVersion } from '../../core/packageVersion.ts';
import { resultsFileName } from '../../images/experiment/resultsFile.ts';
import { prepareMnistDemo } from '../../mnist/demo.ts';
import { MNIST_MODELS_DIR } from '../../mnist/shipped.ts';
import { checkReportFolder, refuseExisting } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { OPTIONS } from '../../core/options.ts';
import { addOption, parseInteger } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { finishRun, imagesRunOutputs, runWithProgress } from './imagesFinish.ts';

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

/** `hierdiff images demo`: the MNIST experiment in one command. */
export function registerImagesDemo(images: Command, argv: readonly string[]): void {
  const cmd = images
    .command('demo')
    .description('the image forward–backward experiment on held-out MNIST digits with the shipped diffusion model and classifier: results, summary.json, figures, report.html (docs/images.md)')
    .option('--quick', 'the test-suite size: 2 digits per class, t/T = 0.2 … 1.0 (under a minute)')
    .option('--out <dir>', 'output folder', 'mnist-demo');
  addOption(cmd, OPTIONS.perClass, { help: 'held-out digits per class (default 20, --quick 2; at most 100)' });
  addOption(cmd, OPTIONS.trajectories, { arg: '<K>', help: 'round trips per digit and step (χ needs 2)', default: '2' });
  addOption(cmd, OPTIONS.seed, { help: 'seed of the noise' });
  addOption(cmd, OPTIONS.batchSize, { default: '64' });
  cmd
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
}
