import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { acquireLock } from '../../core/fileLock.ts';
import { shellQuote } from '../../core/shellQuote.ts';
import { resultsFileName, scanImagesFile, unitCount, type ImagesRunConfig } from '../../images/experiment/resultsFile.ts';
import { whiteningStatsReady } from '../../images/experiment/run.ts';
import {
  IMAGES_ARRAY_SCRIPT,
  IMAGES_STATS_SCRIPT,
  imagesArrayScript,
  imagesShardFiles,
  imagesShardProgress,
  imagesSlurmFolder,
  imagesStatsScript,
  readImagesSlurmRecord,
} from '../../images/experiment/slurm.ts';
import { mergeImagesShards } from '../../images/experiment/resultsFile.ts';
import { ParamError } from '../../core/errors.ts';
import { writeFileAtomic } from '../files.ts';
import { BIN, parseArrayOptions, submitArray, type ArrayRun, type SlurmOptionValues } from '../slurmArray.ts';
import { printArrayStatus } from '../slurmStatus.ts';
import { finishRun, imagesRunOutputs } from './imagesFinish.ts';

/** Default number of array tasks: one per unit (image, step), at most this many. */
const DEFAULT_MAX_TASKS = 100;

/** The first top-level field where two run configs differ, or null when they are the same run. */
function imagesConfigDifference(a: ImagesRunConfig, b: ImagesRunConfig): string | null {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])] as (keyof ImagesRunConfig)[];
  const key = keys.find((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return key === undefined ? null : `its ${key} differs`;
}

/**
 * Refuses an output folder whose results another live run is writing (a local run, or a task of
 * another array on this host): the lock of each results file this run would write is free.
 */
function checkNotInUse(out: string, tasks: number): void {
  if (!existsSync(out)) return;
  const names = [resultsFileName(null), ...Array.from({ length: tasks }, (_, index) => resultsFileName({ index, count: tasks }))];
  for (const name of names) acquireLock(resolve(out, name), 'out', join(out, name)).release();
}

/** An image run as a run of the Slurm mechanism (src/cli/slurmArray.ts): shards in OUT, scripts and logs in OUT/slurm. */
function imagesArrayRun(config: ImagesRunConfig, args: readonly string[], out: string, report: boolean, notes: string[]): ArrayRun<ImagesRunConfig> {
  const folder = imagesSlurmFolder(out);
  return {
    what: 'images forward-backward',
    units: 'units',
    runNoun: 'run',
    out,
    folder,
    config,
    totalUnits: unitCount(config),
    readRecord: () => readImagesSlurmRecord(out),
    difference: (stored) => imagesConfigDifference(stored, config),
    progress: (record) => imagesShardProgress(out, record),
    scripts(array) {
      const input = { out, cwd: process.cwd(), node: process.execPath, bin: BIN, args, array };
      // The statistics are computed once, by a job the array waits for, unless given or already saved.
      const prepare = whiteningStatsReady(config, out) ? null : { name: IMAGES_STATS_SCRIPT, text: imagesStatsScript(input) };
      return { array: { name: IMAGES_ARRAY_SCRIPT, text: imagesArrayScript(input) }, prepare };
    },
    prepareWhat: 'whitening statistics',
    replacedOutputs: () => [...imagesRunOutputs(out, null), ...imagesShardFiles(out)],
    notes,
    statusCommand: `hierdiff images forward-backward --status ${shellQuote(out)}`,
    mergeCommand: `hierdiff images merge ${shellQuote(out)}`,
    async merge(_progress, jobId) {
      const merged = mergeImagesShards(out, (path, text) => writeFileAtomic(path, text));
      process.stderr.write(`images forward-backward: ${merged.units.length} units from ${merged.shards} Slurm task${merged.shards === 1 ? '' : 's'} (job ${jobId}) -> ${merged.path}\n`);
      await finishRun(out, merged.header, merged.units, report);
    },
  };
}

/** Notes on GPUs: a run on cuda without GPUs asked for, or GPUs asked for a run on the CPU. */
function gpuNotes(device: string, gpusPerTask: number | null, sbatchArgs: readonly string[]): string[] {
  const asksGpus = gpusPerTask !== null || sbatchArgs.some((a) => /^--(gpus|gres|gpus-per-node|gpus-per-task)\b/.test(a));
  if (device === 'cuda' && !asksGpus) return ['images forward-backward: note: --device cuda without --gpus-per-task: each task gets the GPUs its partition gives by default (often none)'];
  if (device !== 'cuda' && gpusPerTask !== null) return ['images forward-backward: note: --gpus-per-task without --device cuda: the models run on the CPU'];
  return [];
}

/**
 * `hierdiff images forward-backward … --slurm`: the run (already checked as a local run would be)
 * as a job array, one shard per task, after a job that computes the whitening statistics once.
 */
export async function submitImagesToSlurm(config: ImagesRunConfig, args: readonly string[], device: string, o: SlurmOptionValues & { report?: boolean }): Promise<void> {
  const units = unitCount(config);
  const array = parseArrayOptions(o, Math.min(units, 100000), Math.min(units, DEFAULT_MAX_TASKS), true);
  checkNotInUse(o.out, array.tasks);
  const notes = gpuNotes(device, array.gpusPerTask, array.sbatchArgs);
  await submitArray(imagesArrayRun(config, args, o.out, o.report !== false, notes), array, o);
}

/** `hierdiff images forward-backward --status OUT`: the merged results and each shard of the Slurm folder. */
export function printImagesStatus(out: string): void {
  const folder = imagesSlurmFolder(out);
  const record = existsSync(folder) ? readImagesSlurmRecord(out) : null;
  const path = join(out, resultsFileName(null));
  let results: { done: number; total: number } | null = null;
  if (existsSync(path)) {
    const scan = scanImagesFile(path);
    results = { done: scan.found.size, total: scan.expected.length };
  }
  if (results === null && record === null) throw new ParamError('status', `invalid --status ${out} (neither ${path} nor a Slurm folder ${folder} exists)`);
  printArrayStatus({
    resultsName: path,
    results,
    run: { what: 'images forward-backward', units: 'units', folder, mergeCommand: `hierdiff images merge ${shellQuote(out)}`, prepareWhat: 'whitening statistics' },
    record,
    shards: record ? imagesShardProgress(out, record) : [],
  });
}
