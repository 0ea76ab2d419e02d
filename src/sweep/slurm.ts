import { basename, dirname, join, resolve } from 'node:path';
import { shellQuote } from '../core/shellQuote.ts';
import { readSlurmRecord, sbatchDirectives, type SlurmArrayOptions, type SlurmRecord } from '../core/slurm.ts';
import { validateSweepConfig, type SweepConfig } from './config.ts';

export { checkSlurmArrayOptions, taskLogFile } from '../core/slurm.ts';

/** Name of the batch script in a sweep's Slurm folder. */
export const SLURM_SCRIPT_NAME = 'sweep.sbatch';

/** What a sweep's Slurm folder records (job.json). */
export type SweepSlurmRecord = SlurmRecord<SweepConfig>;

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
 * The job array's batch script. Task i runs shard i of N into shard-i.jsonl with --resume, so
 * `sbatch` of the same script (after a cancel, a time limit, a node failure) finishes only what
 * is missing. The header comment says how to merge. Readable, so users can edit and resubmit it.
 */
export function batchScript(s: SlurmScriptInput): string {
  const { array } = s;
  const q = shellQuote;
  const out = join(s.folder, 'shard-');
  const merged = join(dirname(s.folder), `${basename(s.folder).replace(/\.slurm$/, '')}.jsonl`);
  return [
    '#!/bin/bash',
    ...sbatchDirectives('hierdiff-sweep', s.folder, s.cwd, array, true),
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

/** A sweep's Slurm folder's job.json, or null when there is none; a damaged one is a ParamError naming it. */
export function readSweepSlurmRecord(folder: string): SweepSlurmRecord | null {
  return readSlurmRecord(folder, (config) => validateSweepConfig(config as SweepConfig));
}
