import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageVersion } from '../../core/packageVersion.ts';
import { parseShard, shardFromEnvironment, type Shard } from '../../core/shard.ts';
import { ParamError } from '../../core/errors.ts';
import { whiteningStats } from '../../images/experiment/run.ts';
import { parseSampler } from '../../images/diffusion/sampler.ts';
import { resultsFileName } from '../../images/experiment/resultsFile.ts';
import { openImagesExperiment, type ImagesExperimentInput } from '../../images/experiment/setup.ts';
import { validateClassifierStats } from '../../images/experiment/stats.ts';
import { checkReportFolder, readJsonFile, refuseExisting } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { OPTIONS } from '../../core/options.ts';
import { addOption, addRenamedOptions, kebab, parseInteger, parseIntegerList } from '../parse.ts';
import { startProgress } from '../progress.ts';
import { addSlurmOptions, refuseSlurmOnly, type SlurmOptionValues } from '../slurmArray.ts';
import { printImagesStatus, submitImagesToSlurm } from './imagesSlurm.ts';
import { runInfo } from '../runInfo.ts';
import { finishRun, imagesRunOutputs, runWithProgress } from './imagesFinish.ts';
import { addExperimentOptions, experimentInput, resultsArgv, type ExperimentOptionValues } from './imagesOptions.ts';

interface ForwardBackwardOptionValues extends ExperimentOptionValues, Omit<SlurmOptionValues, 'out'> {
  times?: string;
  publishedOffset?: boolean;
  trajectories: string;
  seed: string;
  sampler: string;
  patch?: string;
  examples: string;
  stats?: string;
  shard?: string;
  shardCount?: string;
  statsOnly?: boolean;
  slurm?: boolean;
  status?: string;
  report?: boolean;
  out?: string;
}

/** The options a run must be given (checked here rather than by commander, since --status needs none). */
const REQUIRED = [
  ['model', '--model <file>'],
  ['classifier', '--classifier <file>'],
  ['images', '--images <dir>'],
  ['out', '--out <dir>'],
] as const;

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
      .option(
        '--shard <i/N|auto>',
        'run shard i of N (units image × step, round robin); writes OUT/results.shard-i-of-N.jsonl; auto: the shard of this job array task (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shard-count)',
      )
      .option('--shard-count <N>', "with --shard auto: the number of shards (needed by a Kubernetes Indexed Job; overrides Slurm's task count)")
      .option('--stats-only', 'compute the whitening statistics into OUT/stats.json and stop (a first step before shards, which then share them)')
      .option('--resume', 'continue OUT/results.jsonl: keep its finished units')
      .option('--overwrite', 'replace an existing results file')
      .option('--no-report', 'skip the figures and report.html')
      .option('--out <dir>', 'output folder: results.jsonl, summary.json, stats.json, examples/, figures/, report.html'),
    true,
    false,
  );
  addSlurmOptions(cmd, {
    slurm: 'submit the run to Slurm as a job array (sbatch), one shard per task, after a job that computes the whitening statistics once; scripts and logs in OUT/slurm/',
    array: 'array tasks, one shard each (default: one per unit, at most 100)',
    status: 'how far a run in folder OUT has got: units done / total of its results and of each shard of its Slurm run',
    statusArg: '<dir>',
    gpus: true,
  });
  addOption(cmd, OPTIONS.times, { help: 'times k of the respaced process to run, 1 … K: noise to t/T = k/K and back (default: K/10, 2K/10, …, K)' });
  // `--steps` was this command's spelling of the times (--steps is training steps elsewhere).
  addRenamedOptions(cmd, 'images forward-backward');
  cmd.action(async (o: ForwardBackwardOptionValues, self: Command) => {
    const explicit = (name: string) => self.getOptionValueSource(name) === 'cli';
    if (o.status !== undefined) {
      const other = self.options.map((opt) => opt.attributeName()).find((name) => name !== 'status' && explicit(name));
      if (other) throw new ParamError(kebab(other), `invalid --${kebab(other)} with --status (--status only reads the files of a run)`);
      return printImagesStatus(o.status);
    }
    const missing = REQUIRED.find(([name]) => o[name] === undefined);
    if (missing) self.error(`error: required option '${missing[1]}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: 2 });
    checkRunMode(o, explicit);
    await runForwardBackward({ ...o, out: o.out! }, argv);
  });
}

/** Options that do not go together: Slurm's without --slurm, a shard or --stats-only with it, --shard-count without --shard auto. */
function checkRunMode(o: ForwardBackwardOptionValues, explicit: (name: string) => boolean): void {
  if (!o.slurm) refuseSlurmOnly(explicit);
  else {
    const clash = ['shard', 'shardCount', 'statsOnly'].find(explicit);
    if (clash)
      throw new ParamError(
        kebab(clash),
        `invalid --${kebab(clash)} with --slurm (${clash === 'statsOnly' ? 'the Slurm run computes the statistics in a first job' : 'each array task runs its own shard'})`,
      );
  }
  if (o.shardCount !== undefined && o.shard !== 'auto') throw new ParamError('shard-count', 'invalid --shard-count without --shard auto');
  if (o.statsOnly && o.shard !== undefined) throw new ParamError('stats-only', "invalid --stats-only with --shard (the statistics are the whole run's)");
}

/** The shard of --shard: i/N, or this job array task's with auto. */
function shardOption(o: ForwardBackwardOptionValues): Shard | null {
  if (o.shard === undefined) return null;
  if (o.shard !== 'auto') return parseShard(o.shard);
  return shardFromEnvironment(process.env, o.shardCount === undefined ? null : parseInteger('shard-count', o.shardCount, 1, 100000));
}

/** Which onnxruntime execution provider runs the models, for a job's log. */
function providerLine(device: string): string {
  if (device !== 'cuda') return 'images forward-backward: models run on the CPU (onnxruntime CPU execution provider)';
  const visible = process.env.CUDA_VISIBLE_DEVICES;
  return `images forward-backward: models run on the GPU (onnxruntime CUDA execution provider, device 0 of CUDA_VISIBLE_DEVICES=${visible ?? '(unset: every GPU of the node)'})`;
}

async function runForwardBackward(o: ForwardBackwardOptionValues & { out: string }, argv: readonly string[]): Promise<void> {
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
  const shard = shardOption(o);
  if (o.slurm) return submitChecked(input, o, argv);
  if (o.statsOnly) return statsOnly(input, o.out);
  // The report is written after the run: refuse an output folder it could not be written into now.
  if (!shard && o.report !== false) checkReportFolder('out', o.out);
  // Finished results are never replaced silently (checked before the models load).
  refuseExisting('out', o.out, imagesRunOutputs(o.out, shard), { resume: o.resume, overwrite: o.overwrite, resumable: true });
  const exp = await openImagesExperiment(input);
  if (o.shard === 'auto') process.stderr.write(`${providerLine(exp.device)}\n`);
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
}

/** --slurm: the run is opened here as a local run would be (on the CPU: a login node has no GPU), then submitted. */
async function submitChecked(input: ImagesExperimentInput, o: ForwardBackwardOptionValues & { out: string }, argv: readonly string[]): Promise<void> {
  if (o.report !== false) checkReportFolder('out', o.out);
  refuseExisting('out', o.out, imagesRunOutputs(o.out, null), { resume: o.resume, overwrite: o.overwrite, resumable: true });
  const exp = await openImagesExperiment({ ...input, device: 'cpu' });
  const config = exp.config;
  await exp.release();
  await submitImagesToSlurm(config, resultsArgv(argv).slice(2), input.device ?? 'cpu', o);
}

/** --stats-only: the whitening statistics into OUT/stats.json (kept when already there for this classifier and these images). */
async function statsOnly(input: ImagesExperimentInput, out: string): Promise<void> {
  const exp = await openImagesExperiment(input);
  process.stderr.write(`${providerLine(exp.device)}\n`);
  try {
    const bar = startProgress('whitening statistics', exp.entries.length, 'images');
    const stats = await whiteningStats(exp, out, (done) => bar.update(done));
    bar.stop();
    process.stderr.write(`images forward-backward: whitening statistics of ${stats.layers.length} layers over ${stats.images} images -> ${join(out, 'stats.json')}\n`);
  } finally {
    await exp.release();
  }
}
