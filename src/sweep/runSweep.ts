import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, truncateSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ParamError } from '../core/errors.ts';
import { checkOption, OPTIONS } from '../core/options.ts';
import type { CellStats } from '../experiment/cell.ts';
import { CellWorkerPool } from '../experiment/parallelCell.ts';
import { writeAtomic } from '../core/atomicWrite.ts';
import { packageVersion } from '../core/packageVersion.ts';
import { acquireLock, releaseOnExit } from '../core/fileLock.ts';
import { sweepCells, type SweepCell } from './cells.ts';
import { validateSweepConfig, type SweepConfig, type SweepConfigInput } from './config.ts';
import { cellLine, fileText, headerDifference, headerLine, makeHeader, scanSweepFile, type SweepHeader } from './resultsFile.ts';
import { checkShard, parseShard, shardCells, type Shard } from './shard.ts';
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

  if (existsSync(path) && !options.resume && !options.overwrite) {
    throw new ParamError('out', `${options.out} already exists (continue it with resume, or choose another out)`);
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch {
    throw new ParamError('out', `invalid output path "${options.out}" (cannot create its folder)`);
  }
  // One run per results file: two runs on one file would both compute every cell and, killed
  // together, leave each cell twice. Held until the file is finished, failed, or the process ends.
  const lock = acquireLock(path, 'out', options.out);
  const unhook = releaseOnExit(lock);
  try {
    return await runLocked(config, options, path, header, cells, workers);
  } finally {
    lock.release();
    unhook();
  }
}

async function runLocked(config: SweepConfig, options: RunSweepOptions, path: string, header: SweepHeader, cells: SweepCell[], workers: number): Promise<SweepResult> {
  const shard = header.shard;
  let headerText = headerLine(header);
  let fileHeader = header;
  const lines = new Map<string, string>();
  const stats = new Map<string, CellStats>();
  if (existsSync(path) && options.resume) {
    const scan = scanSweepFile(path);
    const diff = headerDifference(scan.header, header);
    if (diff !== null) throw new ParamError('resume', `cannot resume ${options.out}: it holds a different sweep (${diff})`);
    const shardText = (s: Shard | null) => (s ? `shard ${s.index}/${s.count}` : 'the whole sweep');
    if (shardText(scan.header.shard) !== shardText(shard)) throw new ParamError('resume', `cannot resume ${options.out}: it holds ${shardText(scan.header.shard)}, not ${shardText(shard)}`);
    // Keep the header as first written: the run that started the file is the one it records.
    headerText = scan.headerText;
    fileHeader = scan.header;
    for (const [key, found] of scan.found) {
      lines.set(key, found.text);
      stats.set(key, found.stats);
    }
    // A crash mid-write leaves a line without its newline: cut it off, its cell runs again.
    if (scan.halfWrittenLast) truncateSync(path, scan.completeBytes);
  } else {
    writeAtomic(path, `${headerText}\n`, options.out);
  }
  const resumed = lines.size;

  const todo = cells.filter((c) => !lines.has(c.key));
  const samplesTotal = cells.reduce((a, c) => a + c.samples, 0);
  let samplesDone = cells.reduce((a, c) => a + (lines.has(c.key) ? c.samples : 0), 0);
  const samplesAtStart = samplesDone;
  const started = performance.now();
  const report = (lastKey: string | null) => {
    if (!options.onProgress) return;
    const elapsedSeconds = (performance.now() - started) / 1000;
    const ran = samplesDone - samplesAtStart;
    const samplesPerSecond = ran > 0 && elapsedSeconds > 0 ? ran / elapsedSeconds : 0;
    options.onProgress({
      cellsDone: lines.size,
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
    const runs = sweepCellRuns(config, todo.map((cell) => ({ cell, samples: cell.samples })));
    const fd = openSync(path, 'a');
    const pool = new CellWorkerPool(Math.min(workers, todo.length));
    try {
      await pool.runCells(runs, (i, s) => {
        const cell = todo[i];
        const text = cellLine(s);
        writeSync(fd, `${text}\n`);
        fsyncSync(fd);
        lines.set(cell.key, text);
        stats.set(cell.key, s);
        samplesDone += cell.samples;
        report(cell.key);
      });
    } finally {
      await pool.close();
      closeSync(fd);
    }
  }

  // Every cell is done: rewrite in canonical order (atomically, so a crash here keeps the old file).
  writeAtomic(path, fileText(headerText, cells.map((c) => lines.get(c.key)!)), options.out);
  return { path, header: fileHeader, cells: cells.map((c) => stats.get(c.key)!), resumed };
}
