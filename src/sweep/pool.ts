import { Piscina } from 'piscina';
import type { CellStats } from '../experiment/cell.ts';
import type { SweepCell } from './cells.ts';
import type { SweepConfig } from './config.ts';
import type { SweepTask, SweepTaskReply } from './task.ts';
import { errorFromWire } from '../core/errors.ts';

/**
 * The worker entry. From source, a plain .mjs that registers tsx's loader in its thread and then
 * loads task.ts, so workers run whether the main thread runs under the bin (tsx), vitest or
 * `node --import tsx`, from any working directory. From a build (dist/, .js), task.js itself.
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.mjs' : './task.js', import.meta.url).href;

/**
 * Runs cells on `workers` worker threads and calls `onDone` on this thread as each finishes, in
 * completion order (which varies from run to run; the results themselves do not). Cells are
 * queued in the order given. The first failure stops the pool and rejects; `onDone` is not
 * called after it.
 */
export async function runCellsOnWorkers(
  config: SweepConfig,
  cells: readonly SweepCell[],
  workers: number,
  onDone: (cell: SweepCell, stats: CellStats) => void,
): Promise<void> {
  if (cells.length === 0) return;
  const threads = Math.min(workers, cells.length);
  const pool = new Piscina({ filename: WORKER_URL, name: 'runSweepTaskOnWorker', minThreads: threads, maxThreads: threads, concurrentTasksPerWorker: 1, idleTimeout: 60_000 });
  let failed = false;
  try {
    await Promise.all(
      cells.map((cell) => {
        const task: SweepTask = { config, cell: { grammarSeed: cell.grammarSeed, depth: cell.depth, process: cell.process, noise: cell.noise }, samples: cell.samples };
        return (pool.run(task) as Promise<SweepTaskReply>).then(
          (reply) => {
            if (failed) return;
            if ('error' in reply) {
              failed = true;
              throw errorFromWire(reply.error);
            }
            const stats = reply.stats;
            try {
              onDone(cell, stats);
            } catch (e) {
              failed = true;
              throw e;
            }
          },
          (e: unknown) => {
            failed = true;
            throw e;
          },
        );
      }),
    );
  } finally {
    await pool.destroy();
  }
}
