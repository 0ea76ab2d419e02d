import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from './atomicWrite.ts';
import { ParamError } from './errors.ts';

/**
 * Running a run as a Slurm job array, whatever the run is (a sweep, an image experiment): the
 * options of the array, the #SBATCH lines of its scripts, the client commands (sbatch, squeue,
 * scontrol, scancel) and the job record (job.json) of its folder. What each task runs is the run's.
 */

/** Format tag of a Slurm folder's job.json. */
export const SLURM_RECORD_FORMAT = 'hierdiff.slurm/1';

/**
 * What a Slurm folder records (job.json): the run's config, its number of array tasks (= shards),
 * the ids of the arrays submitted for it, oldest first (a resubmission appends one), and the ids of
 * the jobs that prepared them (a first step the array waits for), when the run has one.
 */
export interface SlurmRecord<C> {
  format: typeof SLURM_RECORD_FORMAT;
  tasks: number;
  jobs: string[];
  prepareJobs?: string[];
  config: C;
}

/** How far one shard of a run has got. */
export interface ShardProgress {
  index: number;
  count: number;
  file: string;
  /** Units in the file (a half-written last line not counted). */
  done: number;
  /** Units of this shard. */
  total: number;
  /** Why the file could not be read (another run, damaged), or null. */
  problem: string | null;
}

/** How the array is asked for. `time`, `partition` and `sbatchArgs` go to sbatch as given. */
export interface SlurmArrayOptions {
  tasks: number;
  cpusPerTask: number;
  /** GPUs per task (`--gpus-per-task`), or null for none. */
  gpusPerTask: number | null;
  time: string | null;
  partition: string | null;
  sbatchArgs: readonly string[];
}

// Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or unlimited.
const SLURM_TIME = /^(?:\d+(?::\d{1,2}){0,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|UNLIMITED|INFINITE|unlimited|infinite)$/;

/** Checks the options that go into the batch script (one line each, so nothing can break out of it). */
export function checkSlurmArrayOptions(o: Omit<SlurmArrayOptions, 'gpusPerTask'> & { gpusPerTask?: number | null }): SlurmArrayOptions {
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
  return { ...o, gpusPerTask: o.gpusPerTask ?? null };
}

/**
 * A path as the value of an #SBATCH directive: sbatch splits directives at white space unless the
 * value is in double quotes (which it cannot escape, so a path holding one is refused).
 */
export function directivePath(path: string): string {
  if (/["\n\r]/.test(path)) throw new ParamError('out', `invalid path "${path}" for a Slurm batch script (a double quote or a line break cannot be written in an #SBATCH line)`);
  return /\s/.test(path) ? `"${path}"` : path;
}

/** Log of array task `index` of job `jobId` in a Slurm folder (the scripts' `--output` pattern, filled in). */
export function taskLogFile(folder: string, jobId: string, index: number): string {
  return join(folder, 'logs', `slurm-${jobId}_${index}.out`);
}

/** Log of a single (non-array) job of a Slurm folder. */
export function jobLogFile(folder: string, jobId: string): string {
  return join(folder, 'logs', `slurm-${jobId}.out`);
}

/**
 * The #SBATCH lines of a script: the job name, the array (when `array.tasks` is given as an array;
 * null for a single job), resources, the log pattern in `folder`/logs and the working directory.
 */
export function sbatchDirectives(jobName: string, folder: string, cwd: string, array: SlurmArrayOptions, asArray: boolean): string[] {
  const directives = [
    `--job-name=${jobName}`,
    ...(asArray ? [`--array=0-${array.tasks - 1}`] : []),
    `--cpus-per-task=${array.cpusPerTask}`,
    ...(array.gpusPerTask !== null ? [`--gpus-per-task=${array.gpusPerTask}`] : []),
    `--output=${directivePath(join(folder, 'logs', asArray ? 'slurm-%A_%a.out' : 'slurm-%j.out'))}`,
    `--chdir=${directivePath(cwd)}`,
    ...(array.time !== null ? [`--time=${array.time}`] : []),
    ...(array.partition !== null ? [`--partition=${array.partition}`] : []),
    ...array.sbatchArgs,
  ];
  return directives.map((d) => `#SBATCH ${d}`);
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

/**
 * Submits a batch script; returns the job id (`sbatch --parsable` prints `id` or `id;cluster`).
 * With `afterJob`, the job starts only once that one has ended well, and is cancelled if it has not.
 */
export function submitBatchScript(script: string, afterJob: string | null = null): string {
  const dependency = afterJob === null ? [] : [`--dependency=afterok:${afterJob}`, '--kill-on-invalid-dep=yes'];
  const out = slurmCommand('sbatch', ['--parsable', ...dependency, script]).trim();
  const id = out.split(';')[0];
  if (!/^\d+$/.test(id)) throw new ParamError('slurm', `sbatch printed "${out}" (expected a job id)`);
  return id;
}

/** Cancels a job (all its tasks); a job already gone is not an error. */
export function cancelJob(jobId: string): void {
  try {
    slurmCommand('scancel', [jobId]);
  } catch {
    // Already ended, or never started: nothing to cancel.
  }
}

/**
 * The job's array tasks Slurm still holds (pending, running, completing), by task index, with
 * their state as squeue names it (PENDING, RUNNING, …); a job that is not an array is task 0.
 * Empty once every task has ended.
 */
export function queuedTasks(jobId: string): Map<number, string> {
  const queued = new Map<number, string>();
  const text = slurmCommand('squeue', ['--noheader', '--array', '--jobs', jobId, '--format', '%i %T']);
  for (const line of text.split('\n')) {
    const m = /^(\d+)(?:_(\d+))?\s+(\S+)/.exec(line.trim());
    if (m) queued.set(m[2] === undefined ? 0 : Number(m[2]), m[3]);
  }
  return queued;
}

/** The tasks of a job Slurm still holds, or null when squeue cannot tell (not on a Slurm machine, job long gone). */
export function queuedOrNull(jobId: string | undefined): Map<number, string> | null {
  if (jobId === undefined) return null;
  try {
    return queuedTasks(jobId);
  } catch {
    return null;
  }
}

/** How an array task ended, as the controller remembers it (for a few minutes after the end). */
export interface TaskEnd {
  state: string;
  exitCode: string;
}

/** The end states of a job's array tasks by task index (a job that is not an array is task 0), or an empty map when the controller no longer knows them. */
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
    if (state) ends.set(task ? Number(task[1]) : 0, { state: state[1], exitCode: exit?.[1] ?? '?' });
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
export function writeSlurmRecord<C>(folder: string, record: SlurmRecord<C>): void {
  writeAtomic(recordFile(folder), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * A folder's job.json, or null when there is none; a damaged one (or one whose config `checkConfig`
 * refuses) is a ParamError naming it.
 */
export function readSlurmRecord<C>(folder: string, checkConfig: (config: unknown) => C): SlurmRecord<C> | null {
  const path = recordFile(folder);
  if (!existsSync(path)) return null;
  const bad = (why: string): never => {
    throw new ParamError('status', `invalid Slurm record ${path} (${why})`);
  };
  let r: Partial<SlurmRecord<unknown>>;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as Partial<SlurmRecord<unknown>>;
  } catch (e) {
    return bad((e as Error).message);
  }
  if (typeof r !== 'object' || r === null || r.format !== SLURM_RECORD_FORMAT) return bad(`expected format "${SLURM_RECORD_FORMAT}"`);
  if (!Number.isInteger(r.tasks) || r.tasks! < 1 || r.tasks! > 100000) return bad('tasks must be an integer in [1, 100000]');
  const jobIds = (jobs: unknown) => Array.isArray(jobs) && jobs.every((j) => typeof j === 'string' && /^\d+$/.test(j));
  if (!jobIds(r.jobs)) return bad('jobs must be a list of job ids');
  if (r.prepareJobs !== undefined && !jobIds(r.prepareJobs)) return bad('prepareJobs must be a list of job ids');
  let config: C;
  try {
    config = checkConfig(r.config);
  } catch (e) {
    return bad((e as Error).message);
  }
  return { format: SLURM_RECORD_FORMAT, tasks: r.tasks!, jobs: r.jobs!, ...(r.prepareJobs ? { prepareJobs: r.prepareJobs } : {}), config };
}
