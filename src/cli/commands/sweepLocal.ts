/** `hierdiff sweep` run here: memory and workers, progress, the run and its summary. */
import cliProgress from 'cli-progress';
import { availableParallelism } from 'node:os';
import { ParamError } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import { summariseCells } from '../../experiment/summary.ts';
import { batchSizeFor } from '../../experiment/forwardBackward.ts';
import { cellResultBytes, fastBatchBytes, formatBytes, MEMORY_LIMIT_ENV, memoryLimit, referenceBatchBytes, WASM_MEMORY_BYTES } from '../../core/resources.ts';
import { sweepBackendFor } from '../../sweep/task.ts';
import type { SweepConfig } from '../../sweep/config.ts';
import { parseShard, runSweep, type SweepProgress } from '../../sweep/index.ts';
import { shardFromEnvironment } from '../../core/shard.ts';
import { formatSeconds, progressLogSeconds, throttledLines } from '../progress.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { parseInteger, parseOption } from '../parse.ts';
import { formatRows } from './forwardBackward.ts';
import type { SweepOptionValues } from './sweep.ts';

/** Bytes per cell of the sweep's cell list (every cell is enumerated, also those of other shards). */
const SWEEP_CELL_BYTES = 256;

/**
 * Memory of a sweep before it starts (docs/limits.md): the cell list and the results of this
 * shard's cells (kept for the summary) must fit the limit, and one batch per worker at every
 * depth: of the fast kernels, or of the reference backend at the depths where the fast kernels'
 * 4 GiB WebAssembly memory cannot hold one batch (sweepBackendFor; said on stderr). Returns the
 * workers that fit (one batch per worker; results do not depend on it).
 */
export function sweepWorkersThatFit(config: SweepConfig, shards: number, requested: number): { workers: number; notes: string[] } {
  const notes: string[] = [];
  const cells = config.grammars * config.depths.length * config.processes.reduce((n, p) => n + (config.noiseLevels[p]?.length ?? 0), 0);
  const shardCells = Math.ceil(cells / shards);
  const deepest = Math.max(...config.depths);
  const resultBytes = cells * SWEEP_CELL_BYTES + shardCells * cellResultBytes(deepest, config.correlations, config.tuple ** deepest);
  const limit = memoryLimit();
  const gridText = `${cells} cells${shards > 1 ? `, ${shardCells} in this shard` : ''}`;
  if (resultBytes > limit) {
    throw new ParamError(
      'grid',
      `invalid grid: ${gridText} (needs ≈ ${formatBytes(resultBytes)} of memory, the limit is ${formatBytes(limit)}: a sweep lists every cell and keeps its shard's results; split it into several sweeps by depth, process or grammar seeds)`,
    );
  }
  const budget = limit - resultBytes;
  let perWorker = 0;
  for (const depth of config.depths) {
    const shape = { vocab: config.vocab, classes: config.classes, tuple: config.tuple, depth };
    const samples = config.samplesByDepth[String(depth)] ?? config.samples;
    const batch = Math.min(samples, batchSizeFor(config.tuple ** depth));
    const fastBytes = fastBatchBytes(shape, batch, 'f64', config.trajectories);
    const reference = sweepBackendFor(config, depth) !== undefined;
    const bytes = reference ? referenceBatchBytes(shape, batch, config.trajectories) : fastBytes;
    if (bytes > budget) {
      throw new ParamError(
        'depth',
        `invalid --depth ${depth} (needs ≈ ${formatBytes(bytes)} of memory for one batch of exact BP${reference ? ' on the reference backend' : ''}, the limit is ${formatBytes(budget)}: lower the depth, or raise ${MEMORY_LIMIT_ENV} on a larger machine)`,
      );
    }
    if (reference) {
      notes.push(
        `sweep: depth ${depth}: the fast kernels need ≈ ${formatBytes(fastBytes)} (their WebAssembly memory is at most ${formatBytes(WASM_MEMORY_BYTES)}); using the reference backend (≈ ${formatBytes(bytes)}, slower)`,
      );
    }
    perWorker = Math.max(perWorker, bytes);
  }
  const workers = Math.max(1, Math.min(requested, Math.floor(budget / Math.max(1, perWorker))));
  if (workers < requested) notes.push(`sweep: ${workers} worker${workers === 1 ? '' : 's'} instead of ${requested} (≈ ${formatBytes(perWorker)} per worker, the limit is ${formatBytes(limit)})`);
  return { workers, notes };
}

/** An ETA as the bars write it, "?" when there is none yet. */
function duration(seconds: number | null): string {
  return seconds === null || !Number.isFinite(seconds) ? '?' : formatSeconds(seconds);
}

/**
 * Progress on stderr: a bar (cells, samples, samples/s, ETA) on a terminal; elsewhere (Slurm
 * logs, CI) one line every 30 s (HIERDIFF_PROGRESS_EVERY).
 */
function sweepProgress(): { update(p: SweepProgress): void; stop(): void } {
  if (!process.stderr.isTTY) {
    const say = throttledLines(progressLogSeconds() * 1000);
    return {
      update(p) {
        if (p.lastKey !== null)
          say(() => `sweep: ${p.cellsDone}/${p.cellsTotal} cells, ${p.samplesDone}/${p.samplesTotal} samples, ${Math.round(p.samplesPerSecond)} samples/s, ETA ${duration(p.etaSeconds)}`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'sweep [{bar}] {percentage}% | {cells} cells | {value}/{total} samples | {rate} samples/s | ETA {left}',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = { cells: `${p.cellsDone}/${p.cellsTotal}`, rate: Math.round(p.samplesPerSecond), left: duration(p.etaSeconds) };
      if (!started) {
        bar.start(p.samplesTotal, p.samplesDone, payload);
        started = true;
      } else bar.update(p.samplesDone, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Runs the sweep here (all of it, or one shard) on worker threads, and prints its summary; `command`: the one its results record (sweepCommand). */
export async function runLocalSweep(config: SweepConfig, o: SweepOptionValues, command: string): Promise<void> {
  const shardCount = o.shardCount === undefined ? null : parseInteger('shard-count', o.shardCount, 1, 100000);
  const shard = o.shard === undefined ? null : o.shard === 'auto' ? shardFromEnvironment(process.env, shardCount) : parseShard(o.shard);
  const requested = o.workers === undefined ? availableParallelism() : parseOption(OPTIONS.workers, o.workers);
  const { workers, notes } = sweepWorkersThatFit(config, shard?.count ?? 1, requested);
  // Said once the run has passed its checks (a refused run prints its one line only).
  let noted = false;
  const note = (): void => {
    if (noted) return;
    noted = true;
    for (const line of notes) process.stderr.write(`${line}\n`);
  };
  const bar = sweepProgress();
  // Ctrl-C, or SIGTERM from a batch scheduler: finished cells are already on disk (each line is
  // written synchronously, and the handler only runs between writes), so say how to go on.
  const unhook = explainInterrupt('sweep', resumeHint(`finished cells are saved in ${o.out}`), () => bar.stop());
  let result;
  try {
    result = await runSweep(config, { out: o.out, workers, resume: o.resume ?? false, overwrite: o.overwrite ?? false, shard, command, onProgress: (p) => (note(), bar.update(p)) });
  } finally {
    bar.stop();
    unhook();
  }
  process.stdout.write(formatRows(summariseCells(result.cells)));
  const where = shard ? ` (shard ${shard.index}/${shard.count})` : '';
  const resumed = result.resumed > 0 ? `, ${result.resumed} found finished` : '';
  process.stderr.write(`sweep: ${result.cells.length} cells${where}${resumed} -> ${o.out}\n`);
}
