import { existsSync } from 'node:fs';
import { queuedOrNull, type ShardProgress, type SlurmRecord } from '../core/slurm.ts';
import type { ArrayRun } from './slurmArray.ts';
import { plural, shown } from './slurmArray.ts';
import { formatTable } from './table.ts';

/** `--status` of a run that shards (src/cli/slurmArray.ts): its merged results and each shard of its Slurm run. */

function shardState(p: ShardProgress, queued: ReadonlyMap<number, string> | null): string {
  if (p.problem !== null) return `unreadable: ${p.problem}`;
  if (p.done === p.total) return 'done';
  const slurmState = queued?.get(p.index);
  if (slurmState !== undefined) return slurmState.toLowerCase();
  return p.done === 0 && !existsSync(p.file) ? 'not started' : 'stopped';
}

/** What `--status` shows of a run: its merged results (when written) and its Slurm folder. */
export interface ArrayStatus<C> {
  /** The results as named in the first line (--out, or the results file in it). */
  resultsName: string;
  /** Units in the merged results file and of the whole run, or null when it is not written yet. */
  results: { done: number; total: number } | null;
  run: Pick<ArrayRun<C>, 'what' | 'units' | 'folder' | 'mergeCommand' | 'prepareWhat'>;
  record: SlurmRecord<C> | null;
  shards: ShardProgress[];
}

/** `--status`: the results file and each shard of the Slurm folder (with the task states squeue knows). */
export function printArrayStatus<C>(s: ArrayStatus<C>): void {
  const lines: string[] = [];
  const { run } = s;
  if (s.results) lines.push(`${s.resultsName}: ${s.results.done}/${s.results.total} ${run.units}${s.results.done === s.results.total ? ' (complete)' : ''}`);
  else lines.push(`${s.resultsName}: not written yet`);
  if (s.record === null) {
    process.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  const jobs = s.record.jobs.length > 0 ? `job${s.record.jobs.length > 1 ? 's' : ''} ${s.record.jobs.join(', ')}` : 'not submitted';
  lines.push(`Slurm folder ${shown(run.folder)}: ${plural(s.record.tasks, 'task')}, ${jobs}`);
  const prepareJob = s.record.prepareJobs?.at(-1);
  const prepareState = queuedOrNull(prepareJob)?.get(0);
  if (prepareJob !== undefined && prepareState !== undefined) lines.push(`${run.prepareWhat ?? 'first step'}: job ${prepareJob} ${prepareState.toLowerCase()}`);
  const lastJob = s.record.jobs.at(-1);
  const queued = queuedOrNull(lastJob);
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(
    formatTable(
      ['shard', `${run.units} done`, 'of', 'state'],
      s.shards.map((p) => [`${p.index}/${p.count}`, p.done, p.total, shardState(p, queued)]),
    ),
  );
  const done = s.shards.reduce((n, p) => n + p.done, 0);
  const total = s.shards.reduce((n, p) => n + p.total, 0);
  const left = `${total - done} ${total - done === 1 ? run.units.replace(/s$/, '') : run.units}`;
  let next: string;
  if (s.results !== null && s.results.done === s.results.total) next = `merged into ${s.resultsName}`;
  else if (done === total) next = `all shards done; merge them: ${run.mergeCommand}`;
  else if (queued !== null && queued.size > 0) next = `${left} to do; job ${lastJob} is still in the queue`;
  else next = `${left} to do and no task of job ${lastJob ?? '?'} in the queue: resubmit with the same command and --resume`;
  process.stdout.write(`${done}/${total} ${run.units} in the shards; ${next}\n`);
}
