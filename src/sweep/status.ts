import { existsSync } from 'node:fs';
import { ParamError } from '../core/errors.ts';
import { shardCells, sweepCells } from './cells.ts';
import { scanSweepFile } from './resultsFile.ts';
import type { ShardProgress } from '../core/slurm.ts';
import { readSweepSlurmRecord, shardFile, slurmFolder, type SweepSlurmRecord } from './slurm.ts';

/** A sweep's progress: the results file (when it exists) and each shard of its Slurm folder. */
export interface SweepStatus {
  out: string;
  /** Cells in the results file and of the whole sweep, or null when the file does not exist yet. */
  results: { done: number; total: number } | null;
  /** The Slurm folder beside the results file, when there is one. */
  folder: string | null;
  record: SweepSlurmRecord | null;
  shards: ShardProgress[];
}

/** Cells done / total of each shard of a Slurm run, read from its shard files. */
export function shardProgress(folder: string, record: SweepSlurmRecord): ShardProgress[] {
  const cells = sweepCells(record.config);
  return Array.from({ length: record.tasks }, (_, index) => {
    const shard = { index, count: record.tasks };
    const file = shardFile(folder, index);
    const total = shardCells(cells, shard).length;
    if (!existsSync(file)) return { index, count: record.tasks, file, done: 0, total, problem: null };
    try {
      const scan = scanSweepFile(file);
      return { index, count: record.tasks, file, done: scan.found.size, total, problem: null };
    } catch (e) {
      if (!(e instanceof ParamError)) throw e;
      return { index, count: record.tasks, file, done: 0, total, problem: e.message };
    }
  });
}

/**
 * What `hierdiff sweep --status results.jsonl` shows: the results file's cells, and per shard of
 * the Slurm folder beside it the cells done and to do. A ParamError when neither exists.
 */
export function sweepStatus(out: string): SweepStatus {
  const folder = slurmFolder(out);
  const record = existsSync(folder) ? readSweepSlurmRecord(folder) : null;
  let results: SweepStatus['results'] = null;
  if (existsSync(out)) {
    const scan = scanSweepFile(out);
    results = { done: scan.found.size, total: scan.expected.length };
  }
  if (results === null && record === null) {
    throw new ParamError('status', `invalid --status ${out} (neither the results file nor its Slurm folder ${folder} exists)`);
  }
  return { out, results, folder: record ? folder : null, record, shards: record ? shardProgress(folder, record) : [] };
}
