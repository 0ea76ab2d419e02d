import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageVersion } from '../../core/packageVersion.ts';
import { parseShard } from '../../core/shard.ts';
import { parseSampler } from '../../images/diffusion/sampler.ts';
import { resultsFileName } from '../../images/experiment/resultsFile.ts';
import { openImagesExperiment } from '../../images/experiment/setup.ts';
import { validateClassifierStats } from '../../images/experiment/stats.ts';
import { checkReportFolder, readJsonFile, refuseExisting } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { OPTIONS } from '../../core/options.ts';
import { addOption, addRenamedOptions, parseInteger, parseIntegerList } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { finishRun, imagesRunOutputs, runWithProgress } from './imagesFinish.ts';
import { addExperimentOptions, experimentInput, resultsArgv, type ExperimentOptionValues } from './imagesOptions.ts';

interface ForwardBackwardOptionValues extends ExperimentOptionValues {
  times?: string;
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

/** `hierdiff images forward-backward`: the image experiment (docs/images.md). */
export function registerImagesForwardBackward(images: Command, argv: readonly string[]): void {
  const cmd = addExperimentOptions(
    images
      .command('forward-backward')
      .description('noise each image to step k, denoise it back with the model, and measure with the classifier what changed (docs/images.md)')
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
  );
  addOption(cmd, OPTIONS.times, { help: 'times k of the respaced process to run, 1 … K: noise to t/T = k/K and back (default: K/10, 2K/10, …, K)' });
  // `--steps` was this command's spelling of the times (--steps is training steps elsewhere).
  addRenamedOptions(cmd, 'images forward-backward');
  cmd.action(async (o: ForwardBackwardOptionValues) => {
    const input = experimentInput(o);
    input.steps = o.times === undefined ? undefined : parseIntegerList('times', o.times, 1, 100000);
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
}
