import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ParamError } from '../core/errors.ts';
import { checkOption, OPTIONS } from '../core/options.ts';
import { withResultsFile, type ResultsWriter } from '../core/resultsFile.ts';
import { checkShard, parseShard, type Shard } from '../core/shard.ts';
import type { CellStats } from '../experiment/cell.ts';
import { CellWorkerPool } from '../experiment/parallelCell.ts';
import { packageVersion } from '../core/packageVersion.ts';
import { shardCells, sweepCells, type SweepCell } from './cells.ts';
import { validateSweepConfig, type SweepConfig, type SweepConfigInput } from './config.ts';
import { cellLine, headerDifference, makeHeader, SWEEP_RESULTS, type SweepHeader } from './resultsFile.ts';
import { sweepCellRuns } from './task.ts';

/** Progress of a running sweep, reported after the start and after each finished cell. */
export interface SweepProgress {
  /** Cells finished, counting those a resume found already done. */
  cellsDone: number;
  cellsTotal: number;
  /** Of `cellsDone`, the cells found finished in the file at the start (resume). */
  cellsResumed: number;
  samplesDone: number;
  samplesTotal: number;
  /** Seconds since this call started. */
  elapsedSeconds: number;
  /** Data per second over the cells run by this call (0 until one finishes). */
  samplesPerSecond: number;
  /** Estimated seconds left at that rate, or null before the first cell finishes. */
  etaSeconds: number | null;
  /** Key of the cell that just finished, or null for the first report. */
  lastKey: string | null;
}

export interface RunSweepOptions {
  /** The results file (JSON lines). */
  out: string;
  /** Worker threads; default: all cores (`os.availableParallelism()`). Results do not depend on it. */
  workers?: number;
  /** Continue an existing file: check its header, drop a half-written last line, skip finished cells. Starts afresh when the file does not exist. */
  resume?: boolean;
  /** Replace an existing file instead of refusing (not with `resume`). */
  overwrite?: boolean;
  /** Run one shard, `{index, count}` or `"i/N"`; null or absent for the whole sweep. */
  shard?: Shard | string | null;
  onProgress?: (p: SweepProgress) => void;
  /** Command line recorded in the header (`run.command`). Leave out options that do not change results (workers, resume, shard, out), so every run of the same sweep writes the same header. */
  command?: string;
}

export interface SweepResult {
  /** Absolute path of the results file. */
  path: string;
  header: SweepHeader;
  /** This file's cells (whole sweep or shard), in canonical order. */
  cells: CellStats[];
  /** Cells found finished in the file (resume). */
  resumed: number;
}

/**
 * Runs a sweep (docs/science.md §4 over a grid of cells) on worker threads, appending each finished cell to
 * a JSON-lines file (written and fsynced cell by cell, in completion order, so a crash loses at
 * most the cells in flight). When every cell is done the file is rewritten, atomically, with the
 * cells in canonical order: a finished file is byte-identical for any number of workers, any
 * number of interruptions and resumes, and for a merge of its shards.
 *
 * Holds the lock file `<out>.lock` (src/core/fileLock.ts) for the whole run, so two runs never write
 * one file; it is released on success, on failure, on process exit and on SIGINT/SIGTERM. A resume
 * keeps one copy of a cell whose line appears twice with the same text.
 *
 * Throws ParamError for a bad config, worker count or shard, for an existing `out` without
 * `resume`/`overwrite` or with both, for a file another live run holds the lock of, and for a file to resume that
 * holds another sweep or a malformed line; nothing is written then.
 */
export async function runSweep(configInput: SweepConfigInput | SweepConfig, options: RunSweepOptions): Promise<SweepResult> {
  const config = validateSweepConfig(configInput);
  const shard = options.shard === undefined || options.shard === null ? null : typeof options.shard === 'string' ? parseShard(options.shard) : checkShard(options.shard);
  const workers = checkOption(OPTIONS.workers, options.workers ?? availableParallelism());
  if (typeof options.out !== 'string' || options.out.trim() === '') throw new ParamError('out', 'invalid out (expected a file path)');
  if (options.resume && options.overwrite) throw new ParamError('overwrite', 'invalid overwrite with resume (resume continues the file, overwrite replaces it: choose one)');
  const path = resolve(options.out);
  const header = makeHeader({ tool: 'hierdiff', version: packageVersion(), command: options.command ?? 'runSweep' }, config, shard);
  const cells = shardCells(sweepCells(config), shard);

  const shardText = (s: Shard | null) => (s ? `shard ${s.index}/${s.count}` : 'the whole sweep');
  const checkResume = (stored: SweepHeader) => {
    const diff = headerDifference(stored, header);
    if (diff !== null) throw new ParamError('resume', `cannot resume ${options.out}: it holds a different sweep (${diff})`);
    if (shardText(stored.shard) !== shardText(shard)) throw new ParamError('resume', `cannot resume ${options.out}: it holds ${shardText(stored.shard)}, not ${shardText(shard)}`);
  };
  const open = { path, shownAs: options.out, header, resume: options.resume ?? false, overwrite: options.overwrite ?? false, checkResume };
  const exists = `${options.out} already exists (continue it with resume, or choose another out)`;
  return withResultsFile(SWEEP_RESULTS, { ...open, exists }, (file) => runLocked(config, options, file, cells, workers));
}

async function runLocked(config: SweepConfig, options: RunSweepOptions, file: ResultsWriter<SweepHeader, string, CellStats>, cells: SweepCell[], workers: number): Promise<SweepResult> {
  file.start();
  const resumed = file.resumed;
  const todo = cells.filter((c) => !file.has(c.key));
  const samplesTotal = cells.reduce((a, c) => a + c.samples, 0);
  let samplesDone = cells.reduce((a, c) => a + (file.has(c.key) ? c.samples : 0), 0);
  let cellsDone = resumed;
  const samplesAtStart = samplesDone;
  const started = performance.now();
  const report = (lastKey: string | null) => {
    if (!options.onProgress) return;
    const elapsedSeconds = (performance.now() - started) / 1000;
    const ran = samplesDone - samplesAtStart;
    const samplesPerSecond = ran > 0 && elapsedSeconds > 0 ? ran / elapsedSeconds : 0;
    options.onProgress({
      cellsDone,
      cellsTotal: cells.length,
      cellsResumed: resumed,
      samplesDone,
      samplesTotal,
      elapsedSeconds,
      samplesPerSecond,
      etaSeconds: samplesPerSecond > 0 ? (samplesTotal - samplesDone) / samplesPerSecond : null,
      lastKey,
    });
  };
  report(null);

  if (todo.length > 0) {
    // Grammars and schedules first: a bad one fails before any worker starts.
    const runs = sweepCellRuns(
      config,
      todo.map((cell) => ({ cell, samples: cell.samples })),
    );
    const pool = new CellWorkerPool(Math.min(workers, todo.length));
    try {
      await pool.runCells(runs, (i, s) => {
        const cell = todo[i];
        file.append(cell.key, cellLine(s), s);
        cellsDone++;
        samplesDone += cell.samples;
        report(cell.key);
      });
    } finally {
      await pool.close();
    }
  }

  // Every cell is done: the canonical file (cell order), atomically.
  return { path: file.path, header: file.header, cells: file.finish(), resumed };
}
