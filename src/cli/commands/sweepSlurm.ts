import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParamError } from '../../core/errors.ts';
import { writeAtomic } from '../../core/atomicWrite.ts';
import { shellQuote } from '../../core/shellQuote.ts';
import { summariseCells } from '../../experiment/summary.ts';
import { configDifference, type SweepConfig } from '../../sweep/config.ts';
import { sweepCells } from '../../sweep/cells.ts';
import { mergeSweepFiles } from '../../sweep/merge.ts';
import {
  batchScript,
  checkSbatch,
  checkSlurmArrayOptions,
  readSlurmRecord,
  slurmFolder,
  SLURM_RECORD_FORMAT,
  SLURM_SCRIPT_NAME,
  queuedTasks,
  submitBatchScript,
  taskEnds,
  taskLogFile,
  waitForJob,
  writeSlurmRecord,
  type SlurmRecord,
} from '../../sweep/slurm.ts';
import { shardProgress, sweepStatus, type ShardProgress } from '../../sweep/status.ts';
import { parseInteger } from '../parse.ts';
import { formatTable } from '../table.ts';
import { formatRows } from './forwardBackward.ts';

/** The `hierdiff` entry a Slurm task runs: bin/ of this package (three folders up from src/cli/commands or dist/cli/commands). */
const BIN = fileURLToPath(new URL('../../../bin/hierdiff.js', import.meta.url));

/** Default number of array tasks: one per cell, at most this many. */
const DEFAULT_MAX_TASKS = 100;

/** How often `--wait` asks squeue, and how often it reports progress when stderr is not a terminal. */
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 10_000;
const LOG_EVERY_MS = 30_000;

export interface SlurmOptionValues {
  out: string;
  resume?: boolean;
  overwrite?: boolean;
  array?: string;
  cpusPerTask?: string;
  time?: string;
  partition?: string;
  sbatchArg?: string[];
  wait?: boolean;
}

/** A path as the user would type it from here (relative when inside the working directory). */
function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r !== '' && !r.startsWith('..') ? r : path;
}

/** The command that merges a Slurm folder's shards into `out`, ready to paste into a shell. */
function mergeCommand(folder: string, out: string): string {
  return `hierdiff merge ${shellQuote(`${shown(folder)}/shard-`)}*.jsonl --out ${shellQuote(out)}`;
}

/**
 * Checks that the Slurm folder can be (re)used: a new run needs none (or --overwrite, which
 * clears it); --resume needs the same sweep and task count, so resubmitted tasks continue their shards.
 */
function prepareFolder(folder: string, config: SweepConfig, tasks: number, o: SlurmOptionValues): SlurmRecord {
  const fresh: SlurmRecord = { format: SLURM_RECORD_FORMAT, tasks, jobs: [], config };
  if (!existsSync(folder)) return fresh;
  if (!o.resume && !o.overwrite) throw new ParamError('out', `${shown(folder)} already exists (continue its shards with --resume, or start afresh with --overwrite)`);
  const record = readSlurmRecord(folder);
  // Tasks still queued would write into the shards being resumed or cleared.
  const lastJob = record?.jobs.at(-1);
  const queued = queuedOrNull(lastJob);
  if (queued !== null && queued.size > 0) {
    throw new ParamError(
      o.resume ? 'resume' : 'overwrite',
      `cannot ${o.resume ? 'resume' : 'overwrite'} ${shown(folder)} yet: job ${lastJob} still has ${queued.size} task${queued.size === 1 ? '' : 's'} in the queue (wait for it, or cancel it with scancel ${lastJob})`,
    );
  }
  if (o.resume) {
    if (record === null) return fresh;
    const diff = configDifference(record.config, config);
    if (diff !== null) throw new ParamError('resume', `cannot resume ${shown(folder)}: it holds a different sweep (${diff})`);
    if (record.tasks !== tasks)
      throw new ParamError('array', `invalid --array ${tasks} with --resume (${shown(folder)} holds a ${record.tasks}-task array: give --array ${record.tasks}, or --overwrite to start afresh)`);
    return record;
  }
  return fresh;
}

/**
 * `hierdiff sweep ... --slurm`: writes the job array's script and job.json into the folder beside
 * --out, submits it with sbatch and prints the job id; with --wait, follows the array, then merges
 * its shards into --out (the same bytes as a local run) or names the tasks that did not finish.
 */
export async function submitSweepToSlurm(config: SweepConfig, definingArgs: readonly string[], o: SlurmOptionValues, workersNotes: (tasks: number, cpus: number) => string[]): Promise<void> {
  const cells = sweepCells(config).length;
  const maxTasks = Math.min(cells, 100000);
  const tasks = o.array === undefined ? Math.min(cells, DEFAULT_MAX_TASKS) : parseInteger('array', o.array, 1, maxTasks);
  const cpusPerTask = o.cpusPerTask === undefined ? 1 : parseInteger('cpus-per-task', o.cpusPerTask, 1, 1024);
  const array = checkSlurmArrayOptions({ tasks, cpusPerTask, time: o.time ?? null, partition: o.partition ?? null, sbatchArgs: o.sbatchArg ?? [] });
  const notes = workersNotes(tasks, cpusPerTask);
  if (existsSync(o.out) && !o.resume && !o.overwrite) throw new ParamError('out', `${o.out} already exists (continue it with --resume, or choose another --out)`);
  checkSbatch();
  const folder = slurmFolder(o.out);
  const record = prepareFolder(folder, config, tasks, o);
  // --overwrite: the old folder is set aside until the new array is submitted, and restored if it is refused.
  const replaced = o.overwrite && !o.resume && existsSync(folder) ? `${folder}.${process.pid}.old` : null;
  if (replaced) renameSync(folder, replaced);
  const created = !existsSync(folder);
  mkdirSync(`${folder}/logs`, { recursive: true });
  const script = `${folder}/${SLURM_SCRIPT_NAME}`;
  let jobId: string;
  try {
    writeAtomic(script, batchScript({ folder, cwd: process.cwd(), node: process.execPath, bin: BIN, sweepArgs: definingArgs, array }));
    writeSlurmRecord(folder, record);
    for (const line of notes) process.stderr.write(`${line}\n`);
    jobId = submitBatchScript(script);
  } catch (e) {
    // A refused submission leaves things as they were (a resumed folder keeps its shards).
    if (created) rmSync(folder, { recursive: true, force: true });
    if (replaced) renameSync(replaced, folder);
    throw e;
  }
  if (replaced) rmSync(replaced, { recursive: true, force: true });
  // A replaced sweep's results would read as finished until the new merge.
  if (o.overwrite && !o.resume) rmSync(o.out, { force: true });
  writeSlurmRecord(folder, { ...record, jobs: [...record.jobs, jobId] });
  process.stderr.write(`sweep: submitted job array ${jobId} (${tasks} task${tasks === 1 ? '' : 's'}, ${cells} cells) with ${shown(script)}; logs in ${shown(folder)}/logs\n`);
  if (!o.wait) {
    process.stdout.write(`${jobId}\n`);
    process.stderr.write(`sweep: follow it with: hierdiff sweep --status ${shellQuote(o.out)}; when it is done: ${mergeCommand(folder, o.out)}\n`);
    return;
  }
  await followJob(jobId, folder, { ...record, jobs: [...record.jobs, jobId] });
  const progress = shardProgress(folder, record);
  const unfinished = progress.filter((p) => p.done < p.total);
  if (unfinished.length > 0) {
    const ends = taskEnds(jobId);
    for (const p of unfinished) {
      const end = ends.get(p.index);
      const how = end ? `${end.state}, exit code ${end.exitCode}` : 'ended';
      process.stderr.write(`sweep: task ${jobId}_${p.index} (shard ${p.index}/${p.count}) ${how} with ${p.done}/${p.total} cells; log: ${shown(taskLogFile(folder, jobId, p.index))}\n`);
    }
    process.stderr.write(`sweep: ${unfinished.length} of ${tasks} tasks did not finish; run the same command with --resume to finish only what is missing\n`);
    process.exitCode = 1;
    return;
  }
  const merged = mergeSweepFiles(
    progress.map((p) => p.file),
    o.out,
  );
  process.stdout.write(formatRows(summariseCells(merged.cells)));
  process.stderr.write(`sweep: ${merged.cells.length} cells from ${tasks} Slurm task${tasks === 1 ? '' : 's'} (job ${jobId}) -> ${o.out}\n`);
}

/**
 * Waits for the array, saying how far it has got: on a terminal whenever the count changes,
 * elsewhere (a log) at most every 30 s. Ctrl-C stops the waiting, not the array.
 */
async function followJob(jobId: string, folder: string, record: SlurmRecord): Promise<void> {
  const stop = () => {
    process.stderr.write(`\nsweep: stopped waiting; job ${jobId} keeps running (hierdiff sweep --status, then hierdiff merge)\n`);
    process.exit(130);
  };
  process.once('SIGINT', stop);
  let said = '';
  let saidAt = 0;
  try {
    await waitForJob(jobId, POLL_FIRST_MS, POLL_MAX_MS, (queued) => {
      const progress = shardProgress(folder, record);
      const done = progress.reduce((n, p) => n + p.done, 0);
      const total = progress.reduce((n, p) => n + p.total, 0);
      const running = [...queued.values()].filter((state) => state === 'RUNNING').length;
      const line = `sweep: job ${jobId}: ${done}/${total} cells, ${running} task${running === 1 ? '' : 's'} running`;
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

/** The tasks of a job Slurm still holds, or null when squeue cannot tell (not on a Slurm machine, job long gone). */
function queuedOrNull(jobId: string | undefined): Map<number, string> | null {
  if (jobId === undefined) return null;
  try {
    return queuedTasks(jobId);
  } catch {
    return null;
  }
}

function shardState(p: ShardProgress, queued: ReadonlyMap<number, string> | null): string {
  if (p.problem !== null) return `unreadable: ${p.problem}`;
  if (p.done === p.total) return 'done';
  const slurmState = queued?.get(p.index);
  if (slurmState !== undefined) return slurmState.toLowerCase();
  return p.done === 0 && !existsSync(p.file) ? 'not started' : 'stopped';
}

/** `hierdiff sweep --status results.jsonl`: the results file and each shard of its Slurm folder (with the task states squeue knows). */
export function printSweepStatus(out: string): void {
  const s = sweepStatus(out);
  const lines: string[] = [];
  if (s.results) lines.push(`${out}: ${s.results.done}/${s.results.total} cells${s.results.done === s.results.total ? ' (complete)' : ''}`);
  else lines.push(`${out}: not written yet`);
  if (s.record && s.folder) {
    const jobs = s.record.jobs.length > 0 ? `job${s.record.jobs.length > 1 ? 's' : ''} ${s.record.jobs.join(', ')}` : 'not submitted';
    lines.push(`Slurm folder ${shown(s.folder)}: ${s.record.tasks} task${s.record.tasks === 1 ? '' : 's'}, ${jobs}`);
    const lastJob = s.record.jobs.at(-1);
    const queued = queuedOrNull(lastJob);
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stdout.write(
      formatTable(
        ['shard', 'cells done', 'of', 'state'],
        s.shards.map((p) => [`${p.index}/${p.count}`, p.done, p.total, shardState(p, queued)]),
      ),
    );
    const done = s.shards.reduce((n, p) => n + p.done, 0);
    const total = s.shards.reduce((n, p) => n + p.total, 0);
    let next: string;
    if (s.results !== null && s.results.done === s.results.total) next = `merged into ${out}`;
    else if (done === total) next = `all shards done; merge them: ${mergeCommand(s.folder, out)}`;
    else if (queued !== null && queued.size > 0) next = `${total - done} cell${total - done === 1 ? '' : 's'} to do; job ${lastJob} is still in the queue`;
    else next = `${total - done} cell${total - done === 1 ? '' : 's'} to do and no task of job ${lastJob ?? '?'} in the queue: resubmit with the same command and --resume`;
    process.stdout.write(`${done}/${total} cells in the shards; ${next}\n`);
    return;
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
