import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ParamError } from '../core/errors.ts';
import { shellQuote } from '../core/shellQuote.ts';
import { writeAtomic } from '../core/atomicWrite.ts';
import { validateSweepConfig, type SweepConfig } from './config.ts';

/** Format tag of a Slurm folder's job.json. */
export const SLURM_RECORD_FORMAT = 'hierdiff.slurm/1';

/** Name of the batch script in a Slurm folder. */
export const SLURM_SCRIPT_NAME = 'sweep.sbatch';

/**
 * What a Slurm folder records (job.json): the sweep, its number of array tasks (= shards) and the
 * ids of the arrays submitted for it, oldest first (a resubmission appends one).
 */
export interface SlurmRecord {
  format: typeof SLURM_RECORD_FORMAT;
  tasks: number;
  jobs: string[];
  config: SweepConfig;
}

/**
 * The folder beside a results file that holds a Slurm run of it: `results.jsonl` → `results.slurm/`
 * with the batch script, job.json, one shard file per array task and the tasks' logs.
 */
export function slurmFolder(out: string): string {
  const path = resolve(out);
  const name = basename(path).replace(/\.jsonl$/, '');
  return join(dirname(path), `${name}.slurm`);
}

/** Shard `index`'s results file in a Slurm folder. */
export function shardFile(folder: string, index: number): string {
  return join(folder, `shard-${index}.jsonl`);
}

/** Log of array task `index` of job `jobId` (the script's `--output` pattern, filled in). */
export function taskLogFile(folder: string, jobId: string, index: number): string {
  return join(folder, 'logs', `slurm-${jobId}_${index}.out`);
}

/** How the array is asked for. `time`, `partition` and `sbatchArgs` go to sbatch as given. */
export interface SlurmArrayOptions {
  tasks: number;
  cpusPerTask: number;
  time: string | null;
  partition: string | null;
  sbatchArgs: readonly string[];
}

// Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or unlimited.
const SLURM_TIME = /^(?:\d+(?::\d{1,2}){0,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|UNLIMITED|INFINITE|unlimited|infinite)$/;

/** Checks the options that go into the batch script (one line each, so nothing can break out of it). */
export function checkSlurmArrayOptions(o: SlurmArrayOptions): SlurmArrayOptions {
  if (o.time !== null && !SLURM_TIME.test(o.time)) {
    throw new ParamError('time', `invalid --time "${o.time}" (expected a Slurm time: minutes, HH:MM:SS or D-HH:MM:SS, e.g. 2:00:00)`);
  }
  if (o.partition !== null && !/^[\w.-]+(?:,[\w.-]+)*$/.test(o.partition)) {
    throw new ParamError('partition', `invalid --partition "${o.partition}" (expected a partition name: letters, digits, _ . -, comma-separated)`);
  }
  for (const a of o.sbatchArgs) {
    if (!/^--?[A-Za-z]/.test(a) || /[\n\r]/.test(a)) {
      throw new ParamError('sbatch-arg', `invalid --sbatch-arg "${a}" (expected one sbatch option on one line, e.g. --sbatch-arg=--mem=4G)`);
    }
  }
  return o;
}

/** What the batch script runs: node, the hierdiff entry, and the sweep's own arguments. */
export interface SlurmScriptInput {
  folder: string;
  /** Working directory of every task: where the sweep was submitted from (relative paths in the arguments resolve there). */
  cwd: string;
  node: string;
  bin: string;
  /** The `hierdiff sweep` arguments that define the sweep (no --out, --shard, --resume, --workers, Slurm options). */
  sweepArgs: readonly string[];
  array: SlurmArrayOptions;
}

/**
 * A path as the value of an #SBATCH directive: sbatch splits directives at white space unless the
 * value is in double quotes (which it cannot escape, so a path holding one is refused).
 */
function directivePath(path: string): string {
  if (/["\n\r]/.test(path)) throw new ParamError('out', `invalid path "${path}" for a Slurm batch script (a double quote or a line break cannot be written in an #SBATCH line)`);
  return /\s/.test(path) ? `"${path}"` : path;
}

/**
 * The job array's batch script. Task i runs shard i of N into shard-i.jsonl with --resume, so
 * `sbatch` of the same script (after a cancel, a time limit, a node failure) finishes only what
 * is missing. The header comment says how to merge. Readable, so users can edit and resubmit it.
 */
export function batchScript(s: SlurmScriptInput): string {
  const { array } = s;
  const q = shellQuote;
  const out = join(s.folder, 'shard-');
  const directives = [
    '--job-name=hierdiff-sweep',
    `--array=0-${array.tasks - 1}`,
    `--cpus-per-task=${array.cpusPerTask}`,
    `--output=${directivePath(join(s.folder, 'logs', 'slurm-%A_%a.out'))}`,
    `--chdir=${directivePath(s.cwd)}`,
    ...(array.time !== null ? [`--time=${array.time}`] : []),
    ...(array.partition !== null ? [`--partition=${array.partition}`] : []),
    ...array.sbatchArgs,
  ];
  const merged = join(dirname(s.folder), `${basename(s.folder).replace(/\.slurm$/, '')}.jsonl`);
  return [
    '#!/bin/bash',
    ...directives.map((d) => `#SBATCH ${d}`),
    '#',
    `# hierdiff sweep as a Slurm job array of ${array.tasks} tasks: task i runs shard i/${array.tasks} of the sweep`,
    '# and appends its finished cells to shard-i.jsonl in this folder. With --resume, submitting this',
    '# script again (sbatch sweep.sbatch) finishes only the cells that are missing.',
    '# When every task is done, join the shards (the result is the same file a single run writes):',
    `#   hierdiff merge ${q(out)}*.jsonl --out ${q(merged)}`,
    '# or follow the run with: hierdiff sweep --status ' + q(merged),
    'set -euo pipefail',
    `exec ${q(s.node)} ${q(s.bin)} ${s.sweepArgs.map(q).join(' ')} \\`,
    `  --shard auto --shard-count ${array.tasks} --resume --workers "\${SLURM_CPUS_PER_TASK:-1}" \\`,
    `  --out ${q(out)}"\${SLURM_ARRAY_TASK_ID}".jsonl`,
    '',
  ].join('\n');
}

/** Runs a Slurm client command; a missing command or a refusal is a one-line ParamError on `slurm`. */
function slurmCommand(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new ParamError(
      'slurm',
      code === 'ENOENT' ? `invalid --slurm: ${command} not found (run it where the Slurm client commands are, e.g. a login node)` : `${command} failed: ${r.error.message}`,
    );
  }
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${String(r.status)}`;
    throw new ParamError('slurm', `${command} ${args.join(' ')} failed: ${why}`);
  }
  return r.stdout;
}

/** Checks that sbatch can be run here (before anything is written for a submission). */
export function checkSbatch(): void {
  slurmCommand('sbatch', ['--version']);
}

/** Submits a batch script; returns the job id (`sbatch --parsable` prints `id` or `id;cluster`). */
export function submitBatchScript(script: string): string {
  const out = slurmCommand('sbatch', ['--parsable', script]).trim();
  const id = out.split(';')[0];
  if (!/^\d+$/.test(id)) throw new ParamError('slurm', `sbatch printed "${out}" (expected a job id)`);
  return id;
}

/**
 * The job's array tasks Slurm still holds (pending, running, completing), by task index, with
 * their state as squeue names it (PENDING, RUNNING, …). Empty once every task has ended.
 */
export function queuedTasks(jobId: string): Map<number, string> {
  const queued = new Map<number, string>();
  const text = slurmCommand('squeue', ['--noheader', '--array', '--jobs', jobId, '--format', '%i %T']);
  for (const line of text.split('\n')) {
    const m = /^\d+_(\d+)\s+(\S+)/.exec(line.trim());
    if (m) queued.set(Number(m[1]), m[2]);
  }
  return queued;
}

/** How an array task ended, as the controller remembers it (for a few minutes after the end). */
export interface TaskEnd {
  state: string;
  exitCode: string;
}

/** The end states of a job's array tasks by task index, or an empty map when the controller no longer knows them. */
export function taskEnds(jobId: string): Map<number, TaskEnd> {
  const ends = new Map<number, TaskEnd>();
  let text: string;
  try {
    text = slurmCommand('scontrol', ['--oneliner', 'show', 'job', jobId]);
  } catch {
    return ends;
  }
  for (const line of text.split('\n')) {
    const task = /\bArrayTaskId=(\d+)\b/.exec(line);
    const state = /\bJobState=(\S+)/.exec(line);
    const exit = /\bExitCode=(\S+)/.exec(line);
    if (task && state) ends.set(Number(task[1]), { state: state[1], exitCode: exit?.[1] ?? '?' });
  }
  return ends;
}

/**
 * Waits until Slurm holds none of the job's tasks, calling `onPoll` after each look. The looks start
 * `firstMs` apart and slow down to `maxMs` (a short array is noticed as soon as it ends; a long one
 * does not ask squeue more than every `maxMs`).
 */
export async function waitForJob(jobId: string, firstMs: number, maxMs: number, onPoll: (queued: ReadonlyMap<number, string>) => void): Promise<void> {
  for (let interval = firstMs; ; interval = Math.min(maxMs, interval * 1.5)) {
    const queued = queuedTasks(jobId);
    onPoll(queued);
    if (queued.size === 0) return;
    await new Promise((r) => setTimeout(r, interval));
  }
}

function recordFile(folder: string): string {
  return join(folder, 'job.json');
}

/** Writes a folder's job.json (atomically). */
export function writeSlurmRecord(folder: string, record: SlurmRecord): void {
  writeAtomic(recordFile(folder), `${JSON.stringify(record, null, 2)}\n`);
}

/** A folder's job.json, or null when there is none; a damaged one is a ParamError naming it. */
export function readSlurmRecord(folder: string): SlurmRecord | null {
  const path = recordFile(folder);
  if (!existsSync(path)) return null;
  const bad = (why: string): never => {
    throw new ParamError('status', `invalid Slurm record ${path} (${why})`);
  };
  let r: Partial<SlurmRecord>;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as Partial<SlurmRecord>;
  } catch (e) {
    return bad((e as Error).message);
  }
  if (typeof r !== 'object' || r === null || r.format !== SLURM_RECORD_FORMAT) return bad(`expected format "${SLURM_RECORD_FORMAT}"`);
  if (!Number.isInteger(r.tasks) || r.tasks! < 1 || r.tasks! > 100000) return bad('tasks must be an integer in [1, 100000]');
  if (!Array.isArray(r.jobs) || !r.jobs.every((j) => typeof j === 'string' && /^\d+$/.test(j))) return bad('jobs must be a list of job ids');
  let config: SweepConfig;
  try {
    config = validateSweepConfig(r.config as SweepConfig);
  } catch (e) {
    return bad((e as Error).message);
  }
  return { format: SLURM_RECORD_FORMAT, tasks: r.tasks!, jobs: r.jobs, config };
}
