import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import { shellQuote } from '../../core/shellQuote.ts';
import { readSlurmRecord, sbatchDirectives, type ShardProgress, type SlurmArrayOptions, type SlurmRecord } from '../../core/slurm.ts';
import { resultsFileName, SHARD_FILE_NAME, scanImagesFile, unitsOfShard, type ImagesRunConfig } from './resultsFile.ts';

/** What an image run's Slurm folder records (job.json): the run's config, its tasks and jobs. */
export type ImagesSlurmRecord = SlurmRecord<ImagesRunConfig>;

/** Names of the scripts in an image run's Slurm folder. */
export const IMAGES_ARRAY_SCRIPT = 'forward-backward.sbatch';
export const IMAGES_STATS_SCRIPT = 'stats.sbatch';

/**
 * The Slurm folder of an image run: `OUT/slurm/` with the scripts, job.json and the tasks' logs.
 * The shards themselves are written where `--shard` writes them, `OUT/results.shard-i-of-N.jsonl`,
 * so `hierdiff images merge OUT` joins them as it joins shards run by hand.
 */
export function imagesSlurmFolder(out: string): string {
  return resolve(out, 'slurm');
}

/** Shard `index` of `count`'s results file in the output folder. */
export function imagesShardFile(out: string, index: number, count: number): string {
  return join(out, resultsFileName({ index, count }));
}

/** Every shard file in the output folder (of any shard count). */
export function imagesShardFiles(out: string): string[] {
  if (!existsSync(out)) return [];
  return readdirSync(out)
    .filter((n) => SHARD_FILE_NAME.test(n))
    .map((n) => join(out, n));
}

/** What the scripts run: node, the hierdiff entry, and the arguments that define the run. */
export interface ImagesScriptInput {
  out: string;
  /** Working directory of every task: where the run was submitted from (relative paths in the arguments resolve there). */
  cwd: string;
  node: string;
  bin: string;
  /** `images forward-backward` and the options that define the run (no --out, --shard, --resume, Slurm options). */
  args: readonly string[];
  array: SlurmArrayOptions;
}

/**
 * The job array's script: task i runs shard i of N into OUT/results.shard-i-of-N.jsonl with
 * --resume, so `sbatch` of it again finishes only what is missing. Readable, to edit and resubmit.
 */
export function imagesArrayScript(s: ImagesScriptInput): string {
  const q = shellQuote;
  const n = s.array.tasks;
  return [
    '#!/bin/bash',
    ...sbatchDirectives('hierdiff-images', imagesSlurmFolder(s.out), s.cwd, s.array, true),
    '#',
    `# hierdiff images forward-backward as a Slurm job array of ${n} tasks: task i runs shard i/${n} of the run`,
    `# and appends its finished units (image, step) to results.shard-i-of-${n}.jsonl in ${s.out}.`,
    '# With --resume, submitting this script again finishes only the units that are missing. The tasks',
    `# read the whitening statistics from ${join(s.out, 'stats.json')} (${IMAGES_STATS_SCRIPT} computes them once, before).`,
    '# When every task is done, join the shards (results.jsonl is the file a single run writes):',
    `#   hierdiff images merge ${q(s.out)}`,
    `# or follow the run with: hierdiff images forward-backward --status ${q(s.out)}`,
    'set -euo pipefail',
    `exec ${q(s.node)} ${q(s.bin)} ${s.args.map(q).join(' ')} \\`,
    `  --shard auto --shard-count ${n} --resume --out ${q(s.out)}`,
    '',
  ].join('\n');
}

/** The first step's script: the whitening statistics, once, into OUT/stats.json (every task then reads them). */
export function imagesStatsScript(s: ImagesScriptInput): string {
  const q = shellQuote;
  return [
    '#!/bin/bash',
    ...sbatchDirectives('hierdiff-images-stats', imagesSlurmFolder(s.out), s.cwd, s.array, false),
    '#',
    `# The whitening statistics of the run's clean images, computed once into ${join(s.out, 'stats.json')}`,
    `# before the job array of ${IMAGES_ARRAY_SCRIPT} starts (it waits for this job), so every shard uses the same.`,
    'set -euo pipefail',
    `exec ${q(s.node)} ${q(s.bin)} ${s.args.map(q).join(' ')} \\`,
    `  --stats-only --out ${q(s.out)}`,
    '',
  ].join('\n');
}

function checkConfig(value: unknown): ImagesRunConfig {
  const c = value as ImagesRunConfig | null;
  if (typeof c !== 'object' || c === null || !Number.isInteger(c.images?.count) || !Array.isArray(c.steps)) {
    throw new ParamError('status', 'its config is not an image run config');
  }
  return c;
}

/** An image run's job.json, or null when there is none; a damaged one is a ParamError naming it. */
export function readImagesSlurmRecord(out: string): ImagesSlurmRecord | null {
  return readSlurmRecord(imagesSlurmFolder(out), checkConfig);
}

/** Units done / total of each shard of a Slurm run, read from its shard files. */
export function imagesShardProgress(out: string, record: ImagesSlurmRecord): ShardProgress[] {
  return Array.from({ length: record.tasks }, (_, index) => {
    const count = record.tasks;
    const file = imagesShardFile(out, index, count);
    const total = unitsOfShard(record.config, { index, count }).length;
    if (!existsSync(file)) return { index, count, file, done: 0, total, problem: null };
    try {
      return { index, count, file, done: scanImagesFile(file).found.size, total, problem: null };
    } catch (e) {
      if (!(e instanceof ParamError)) throw e;
      return { index, count, file, done: 0, total, problem: e.message };
    }
  });
}
