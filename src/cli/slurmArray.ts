import type { Command } from 'commander';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAtomic } from '../core/atomicWrite.ts';
import { ParamError } from '../core/errors.ts';
import {
  cancelJob,
  checkSbatch,
  checkSlurmArrayOptions,
  jobLogFile,
  queuedOrNull,
  SLURM_RECORD_FORMAT,
  submitBatchScript,
  taskEnds,
  taskLogFile,
  waitForJob,
  writeSlurmRecord,
  type ShardProgress,
  type SlurmArrayOptions,
  type SlurmRecord,
} from '../core/slurm.ts';

export type { ShardProgress } from '../core/slurm.ts';
import { kebab, parseInteger } from './parse.ts';

/**
 * Submitting a run to Slurm as a job array and following it, for every run that shards (a sweep,
 * an image experiment): one mechanism, so `--slurm`, `--wait`, `--status`, `--resume` and
 * `--overwrite` mean the same everywhere. The run says what its tasks execute, how far each shard
 * has got and how shards merge ({@link ArrayRun}).
 */

/** The `hierdiff` entry a Slurm task runs: bin/ of this package (two folders up from src/cli or dist/cli). */
export const BIN = fileURLToPath(new URL('../../bin/hierdiff.js', import.meta.url));

/** How often `--wait` asks squeue, and how often it reports progress when stderr is not a terminal. */
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 10_000;
const LOG_EVERY_MS = 30_000;

/** The Slurm options as commander gives them. */
export interface SlurmOptionValues {
  out: string;
  resume?: boolean;
  overwrite?: boolean;
  array?: string;
  cpusPerTask?: string;
  gpusPerTask?: string;
  time?: string;
  partition?: string;
  sbatchArg?: string[];
  wait?: boolean;
}

/** Options that only go with --slurm, as commander names them. */
export const SLURM_ONLY = ['array', 'cpusPerTask', 'gpusPerTask', 'time', 'partition', 'sbatchArg', 'wait'];

/** The Slurm options in argv form: left out of a recorded command and of what a task runs. */
export const SLURM_ARGS_WITH_VALUE = ['--status', '--array', '--cpus-per-task', '--gpus-per-task', '--time', '--partition', '--sbatch-arg'];
export const SLURM_FLAGS = ['--slurm', '--wait'];

/** Refuses the Slurm-only options in a run without --slurm (one line naming the first given). */
export function refuseSlurmOnly(explicit: (name: string) => boolean): void {
  const given = SLURM_ONLY.find(explicit);
  if (given) throw new ParamError(kebab(given), `invalid --${kebab(given)} without --slurm`);
}

/** What the Slurm options say in a command's help: its --slurm, --array and --status, and whether tasks may ask for GPUs. */
export interface SlurmOptionsHelp {
  slurm: string;
  array: string;
  status: string;
  /** The --status argument's name in the help: `<results>`, `<dir>`. */
  statusArg: string;
  gpus: boolean;
}

/** Adds --slurm and the options that go with it, and --status, to a command that shards. */
export function addSlurmOptions(cmd: Command, help: SlurmOptionsHelp): Command {
  cmd
    .option('--slurm', help.slurm)
    .option('--array <n>', `with --slurm: ${help.array}`)
    .option('--cpus-per-task <c>', `with --slurm: cores${help.gpus ? '' : ', and so worker threads,'} per task (default 1)`);
  if (help.gpus) cmd.option('--gpus-per-task <g>', 'with --slurm: GPUs per task (Slurm sets CUDA_VISIBLE_DEVICES; run the models there with --device cuda)');
  return cmd
    .option('--time <t>', 'with --slurm: time limit per task, e.g. 2:00:00')
    .option('--partition <p>', 'with --slurm: the partition to run on')
    .option('--sbatch-arg <arg>', 'with --slurm: another sbatch option for the scripts, e.g. --sbatch-arg=--mem=4G (repeatable)', (a: string, all: string[] | undefined) => [...(all ?? []), a])
    .option('--wait', 'with --slurm: wait for the array, then merge its shards into --out (or name the tasks that failed)')
    .option(`--status ${help.statusArg}`, help.status);
}

/** The array options, checked: `tasks` in 1 … maxTasks (default `defaultTasks`), cores and GPUs per task, time, partition. */
export function parseArrayOptions(o: SlurmOptionValues, maxTasks: number, defaultTasks: number, gpus: boolean): SlurmArrayOptions {
  const tasks = o.array === undefined ? defaultTasks : parseInteger('array', o.array, 1, maxTasks);
  const cpusPerTask = o.cpusPerTask === undefined ? 1 : parseInteger('cpus-per-task', o.cpusPerTask, 1, 1024);
  const gpusPerTask = gpus && o.gpusPerTask !== undefined ? parseInteger('gpus-per-task', o.gpusPerTask, 1, 64) : null;
  return checkSlurmArrayOptions({ tasks, cpusPerTask, gpusPerTask, time: o.time ?? null, partition: o.partition ?? null, sbatchArgs: o.sbatchArg ?? [] });
}

/** A script of a Slurm folder: its file name and text. */
export interface SlurmScript {
  name: string;
  text: string;
}

/** What the mechanism needs to know of a run. */
export interface ArrayRun<C> {
  /** Prefix of every message: `sweep`, `images forward-backward`. */
  what: string;
  /** The run's units, plural: `cells`, `units`. */
  units: string;
  /** What another config is called in a refusal: `sweep`, `run`. */
  runNoun: string;
  /** --out as given (the results file, or the output folder). */
  out: string;
  /** The Slurm folder: scripts, job.json, logs/. */
  folder: string;
  config: C;
  totalUnits: number;
  readRecord(): SlurmRecord<C> | null;
  /** How a recorded config differs from this run's, or null when it is the same run. */
  difference(stored: C): string | null;
  progress(record: SlurmRecord<C>): ShardProgress[];
  /** The array's script, and a first step's (a job the array waits for) when the run needs one now. */
  scripts(array: SlurmArrayOptions): { array: SlurmScript; prepare: SlurmScript | null };
  /** What the first step does, for messages: `whitening statistics`. */
  prepareWhat?: string;
  /** Results of an earlier run that --overwrite replaces and that lie outside the Slurm folder (set aside until the new run is submitted). */
  replacedOutputs(): string[];
  /** Lines to print before submitting (e.g. how many workers each task runs). */
  notes: string[];
  /** The commands a user follows the run and merges its shards with. */
  statusCommand: string;
  mergeCommand: string;
  /** Merges the finished shards into --out and prints what a local run prints. */
  merge(progress: ShardProgress[], jobId: string): Promise<void>;
}

/** A path as the user would type it from here (relative when inside the working directory). */
export function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r !== '' && !r.startsWith('..') ? r : path;
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Checks that the Slurm folder can be (re)used: a new run needs none (or --overwrite, which
 * clears it); --resume needs the same run and task count, so resubmitted tasks continue their shards.
 */
function prepareFolder<C>(run: ArrayRun<C>, tasks: number, o: SlurmOptionValues): SlurmRecord<C> {
  const fresh: SlurmRecord<C> = { format: SLURM_RECORD_FORMAT, tasks, jobs: [], config: run.config };
  if (!existsSync(run.folder)) return fresh;
  if (!o.resume && !o.overwrite) throw new ParamError('out', `${shown(run.folder)} already exists (continue its shards with --resume, or start afresh with --overwrite)`);
  const record = run.readRecord();
  // Tasks still queued would write into the shards being resumed or cleared.
  for (const job of [record?.jobs.at(-1), record?.prepareJobs?.at(-1)]) {
    const queued = queuedOrNull(job);
    if (queued !== null && queued.size > 0) {
      throw new ParamError(
        o.resume ? 'resume' : 'overwrite',
        `cannot ${o.resume ? 'resume' : 'overwrite'} ${shown(run.folder)} yet: job ${job} still has ${plural(queued.size, 'task')} in the queue (wait for it, or cancel it with scancel ${job})`,
      );
    }
  }
  if (o.resume) {
    if (record === null) return fresh;
    const diff = run.difference(record.config);
    if (diff !== null) throw new ParamError('resume', `cannot resume ${shown(run.folder)}: it holds a different ${run.runNoun} (${diff})`);
    if (record.tasks !== tasks)
      throw new ParamError('array', `invalid --array ${tasks} with --resume (${shown(run.folder)} holds a ${record.tasks}-task array: give --array ${record.tasks}, or --overwrite to start afresh)`);
    return record;
  }
  return fresh;
}

/** Moves `paths` into `aside` (kept until the submission succeeds); returns how to put them back. */
function setAside(paths: readonly string[], aside: string): () => void {
  const moved: [string, string][] = [];
  for (const [i, path] of paths.entries()) {
    if (!existsSync(path)) continue;
    mkdirSync(aside, { recursive: true });
    const to = join(aside, String(i));
    renameSync(path, to);
    moved.push([path, to]);
  }
  return () => {
    for (const [path, to] of moved) renameSync(to, path);
  };
}

/** Writes the scripts and job.json, submits the first step (when there is one) and the array; returns the job ids. */
function submit<C>(run: ArrayRun<C>, array: SlurmArrayOptions, record: SlurmRecord<C>): { jobId: string; prepareJob: string | null; script: string } {
  const scripts = run.scripts(array);
  const script = join(run.folder, scripts.array.name);
  writeAtomic(script, scripts.array.text);
  if (scripts.prepare) writeAtomic(join(run.folder, scripts.prepare.name), scripts.prepare.text);
  writeSlurmRecord(run.folder, record);
  for (const line of run.notes) process.stderr.write(`${line}\n`);
  const prepareJob = scripts.prepare ? submitBatchScript(join(run.folder, scripts.prepare.name)) : null;
  try {
    return { jobId: submitBatchScript(script, prepareJob), prepareJob, script };
  } catch (e) {
    // Nothing submitted: the first step goes too.
    if (prepareJob !== null) cancelJob(prepareJob);
    throw e;
  }
}

/**
 * `--slurm`: writes the job array's script (and a first step's) and job.json into the run's Slurm
 * folder, submits them with sbatch and prints the job id; with --wait, follows the array, then
 * merges its shards into --out (the same bytes as a local run) or names the tasks that did not finish.
 */
export async function submitArray<C>(run: ArrayRun<C>, array: SlurmArrayOptions, o: SlurmOptionValues): Promise<void> {
  checkSbatch();
  const record = prepareFolder(run, array.tasks, o);
  const overwriting = o.overwrite === true && o.resume !== true;
  // --overwrite: the old folder and results are set aside until the new array is submitted, and restored if it is refused.
  const aside = `${run.folder}.${process.pid}.old`;
  const restore = overwriting ? setAside([run.folder, ...run.replacedOutputs()], aside) : () => {};
  // The first folder mkdir creates (the Slurm folder, or the output folder above it): removed if the submission is refused.
  const created = mkdirSync(join(run.folder, 'logs'), { recursive: true }) ?? null;
  let submitted: ReturnType<typeof submit<C>>;
  try {
    submitted = submit(run, array, record);
  } catch (e) {
    // A refused submission leaves things as they were (a resumed folder keeps its shards).
    if (created !== null) rmSync(created, { recursive: true, force: true });
    restore();
    rmSync(aside, { recursive: true, force: true });
    throw e;
  }
  rmSync(aside, { recursive: true, force: true });
  const { jobId, prepareJob, script } = submitted;
  const now: SlurmRecord<C> = {
    ...record,
    jobs: [...record.jobs, jobId],
    ...(prepareJob !== null || record.prepareJobs ? { prepareJobs: [...(record.prepareJobs ?? []), ...(prepareJob !== null ? [prepareJob] : [])] } : {}),
  };
  writeSlurmRecord(run.folder, now);
  const first = prepareJob !== null ? ` after job ${prepareJob} (${run.prepareWhat ?? 'first step'})` : '';
  process.stderr.write(`${run.what}: submitted job array ${jobId} (${plural(array.tasks, 'task')}, ${run.totalUnits} ${run.units})${first} with ${shown(script)}; logs in ${shown(run.folder)}/logs\n`);
  if (!o.wait) {
    process.stdout.write(`${jobId}\n`);
    process.stderr.write(`${run.what}: follow it with: ${run.statusCommand}; when it is done: ${run.mergeCommand}\n`);
    return;
  }
  await followJob(run, jobId, now);
  const progress = run.progress(now);
  const unfinished = progress.filter((p) => p.done < p.total);
  if (unfinished.length > 0) {
    reportUnfinished(run, unfinished, jobId, prepareJob, array.tasks);
    process.exitCode = 1;
    return;
  }
  await run.merge(progress, jobId);
}

/** Names each unfinished task with its Slurm state, exit code and log (and the first step's, when it failed). */
function reportUnfinished<C>(run: ArrayRun<C>, unfinished: readonly ShardProgress[], jobId: string, prepareJob: string | null, tasks: number): void {
  if (prepareJob !== null) {
    const end = taskEnds(prepareJob).get(0);
    if (end && end.state !== 'COMPLETED') {
      process.stderr.write(`${run.what}: job ${prepareJob} (${run.prepareWhat ?? 'first step'}) ${end.state}, exit code ${end.exitCode}; log: ${shown(jobLogFile(run.folder, prepareJob))}\n`);
    }
  }
  const ends = taskEnds(jobId);
  for (const p of unfinished) {
    const end = ends.get(p.index);
    const how = end ? `${end.state}, exit code ${end.exitCode}` : 'ended';
    process.stderr.write(`${run.what}: task ${jobId}_${p.index} (shard ${p.index}/${p.count}) ${how} with ${p.done}/${p.total} ${run.units}; log: ${shown(taskLogFile(run.folder, jobId, p.index))}\n`);
  }
  process.stderr.write(`${run.what}: ${unfinished.length} of ${tasks} tasks did not finish; run the same command with --resume to finish only what is missing\n`);
}

/**
 * Waits for the array, saying how far it has got: on a terminal whenever the count changes,
 * elsewhere (a log) at most every 30 s. Ctrl-C stops the waiting, not the array.
 */
async function followJob<C>(run: ArrayRun<C>, jobId: string, record: SlurmRecord<C>): Promise<void> {
  const stop = () => {
    process.stderr.write(`\n${run.what}: stopped waiting; job ${jobId} keeps running (${run.statusCommand}, then ${run.mergeCommand})\n`);
    process.exit(130);
  };
  process.once('SIGINT', stop);
  let said = '';
  let saidAt = 0;
  try {
    await waitForJob(jobId, POLL_FIRST_MS, POLL_MAX_MS, (queued) => {
      const progress = run.progress(record);
      const done = progress.reduce((n, p) => n + p.done, 0);
      const total = progress.reduce((n, p) => n + p.total, 0);
      const running = [...queued.values()].filter((state) => state === 'RUNNING').length;
      const line = `${run.what}: job ${jobId}: ${done}/${total} ${run.units}, ${plural(running, 'task')} running`;
      const now = Date.now();
      if (line !== said && (process.stderr.isTTY || now - saidAt >= LOG_EVERY_MS)) {
        process.stderr.write(`${line}\n`);
        said = line;
        saidAt = now;
      }
    });
  } finally {
    process.off('SIGINT', stop);
  }
}
