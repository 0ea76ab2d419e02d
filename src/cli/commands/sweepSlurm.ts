import { existsSync } from 'node:fs';
import { ParamError } from '../../core/errors.ts';
import { shellQuote } from '../../core/shellQuote.ts';
import { summariseCells } from '../../experiment/summary.ts';
import { configDifference, type SweepConfig } from '../../sweep/config.ts';
import { sweepCells } from '../../sweep/cells.ts';
import { mergeSweepFiles } from '../../sweep/merge.ts';
import { batchScript, readSweepSlurmRecord, slurmFolder, SLURM_SCRIPT_NAME } from '../../sweep/slurm.ts';
import { shardProgress, sweepStatus } from '../../sweep/status.ts';
import { BIN, parseArrayOptions, shown, submitArray, type ArrayRun, type SlurmOptionValues } from '../slurmArray.ts';
import { printArrayStatus } from '../slurmStatus.ts';
import { formatRows } from './forwardBackward.ts';

export type { SlurmOptionValues } from '../slurmArray.ts';

/** Default number of array tasks: one per cell, at most this many. */
const DEFAULT_MAX_TASKS = 100;

/** The command that merges a Slurm folder's shards into `out`, ready to paste into a shell. */
function mergeCommand(folder: string, out: string): string {
  return `hierdiff merge ${shellQuote(`${shown(folder)}/shard-`)}*.jsonl --out ${shellQuote(out)}`;
}

/** A sweep as a run of the Slurm mechanism (src/cli/slurmArray.ts): its shards in the folder beside --out. */
function sweepArrayRun(config: SweepConfig, definingArgs: readonly string[], out: string, notes: string[]): ArrayRun<SweepConfig> {
  const folder = slurmFolder(out);
  return {
    what: 'sweep',
    units: 'cells',
    runNoun: 'sweep',
    out,
    folder,
    config,
    totalUnits: sweepCells(config).length,
    readRecord: () => readSweepSlurmRecord(folder),
    difference: (stored) => configDifference(stored, config),
    progress: (record) => shardProgress(folder, record),
    scripts: (array) => ({
      array: { name: SLURM_SCRIPT_NAME, text: batchScript({ folder, cwd: process.cwd(), node: process.execPath, bin: BIN, sweepArgs: definingArgs, array }) },
      prepare: null,
    }),
    // A replaced sweep's merged results would read as finished until the new merge.
    replacedOutputs: () => [out],
    notes,
    statusCommand: `hierdiff sweep --status ${shellQuote(out)}`,
    mergeCommand: mergeCommand(folder, out),
    async merge(progress, jobId) {
      const merged = mergeSweepFiles(
        progress.map((p) => p.file),
        out,
      );
      process.stdout.write(formatRows(summariseCells(merged.cells)));
      const tasks = progress.length;
      process.stderr.write(`sweep: ${merged.cells.length} cells from ${tasks} Slurm task${tasks === 1 ? '' : 's'} (job ${jobId}) -> ${out}\n`);
    },
  };
}

/**
 * `hierdiff sweep ... --slurm`: writes the job array's script and job.json into the folder beside
 * --out, submits it with sbatch and prints the job id; with --wait, follows the array, then merges
 * its shards into --out (the same bytes as a local run) or names the tasks that did not finish.
 */
export async function submitSweepToSlurm(config: SweepConfig, definingArgs: readonly string[], o: SlurmOptionValues, workersNotes: (tasks: number, cpus: number) => string[]): Promise<void> {
  const cells = sweepCells(config).length;
  const array = parseArrayOptions(o, Math.min(cells, 100000), Math.min(cells, DEFAULT_MAX_TASKS), false);
  const notes = workersNotes(array.tasks, array.cpusPerTask);
  if (existsSync(o.out) && !o.resume && !o.overwrite) throw new ParamError('out', `${o.out} already exists (continue it with --resume, or choose another --out)`);
  await submitArray(sweepArrayRun(config, definingArgs, o.out, notes), array, o);
}

/** `hierdiff sweep --status results.jsonl`: the results file and each shard of its Slurm folder (with the task states squeue knows). */
export function printSweepStatus(out: string): void {
  const s = sweepStatus(out);
  const folder = slurmFolder(out);
  printArrayStatus({
    resultsName: out,
    results: s.results,
    run: { what: 'sweep', units: 'cells', folder, mergeCommand: mergeCommand(folder, out) },
    record: s.record,
    shards: s.shards,
  });
}
