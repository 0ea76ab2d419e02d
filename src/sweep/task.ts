import type { CellStats } from '../experiment/cell.ts';
import { referenceBackend } from '../bp/reference.ts';
import type { BpBackend } from '../bp/types.ts';
import { fastBatchBytes, WASM_MEMORY_BYTES } from '../core/resources.ts';
import { batchSizeFor, runCell, type CellSpec } from '../experiment/forwardBackward.ts';
import type { CellRun } from '../experiment/parallelCell.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { sampleRules } from '../grammar/sampleRules.ts';
import { grammarFromJson } from '../grammar/serialize.ts';
import { makeSchedule } from '../noise/schedule.ts';
import type { SweepConfig } from './config.ts';

/** One cell of a sweep with its sample count (the config's, or its depth's). */
export interface SweepTask {
  readonly config: SweepConfig;
  readonly cell: CellSpec;
  readonly samples: number;
}

/**
 * The BP backend of a sweep's cells at `depth`: the default fast kernels, or the reference
 * backend where one batch of the fast kernels does not fit their WebAssembly memory (at most
 * 4 GiB; at v = 32, s = 2 from L = 20 on). A function of the config alone (never of the machine's
 * memory limit), so every shard, worker and resumed run of a sweep uses the same one (docs/limits.md).
 */
export function sweepBackendFor(config: SweepConfig, depth: number): BpBackend | undefined {
  const samples = config.samplesByDepth[String(depth)] ?? config.samples;
  const shape = { vocab: config.vocab, classes: config.classes, tuple: config.tuple, depth };
  const bytes = fastBatchBytes(shape, Math.min(samples, batchSizeFor(config.tuple ** depth)), 'f64', config.trajectories);
  return bytes > WASM_MEMORY_BYTES ? referenceBackend : undefined;
}

/**
 * What cells of a sweep run (docs/science.md §4): each one's grammar, spec and options, every
 * grammar and the schedule built once. A cell's result depends only on the config and the cell
 * (every random stream is keyed by grammar seed, depth, process and noise), never on which
 * thread runs it.
 */
export function sweepCellRuns(config: SweepConfig, tasks: readonly Omit<SweepTask, 'config'>[]): CellRun[] {
  const schedule = makeSchedule(config.schedule);
  const grammars = new Map<string, Grammar>();
  const grammarOf = (grammarSeed: number, depth: number): Grammar => {
    const key = config.grammar ? 'file' : `${depth}|${grammarSeed}`;
    let g = grammars.get(key);
    if (!g) {
      g = config.grammar
        ? grammarFromJson(config.grammar)
        : sampleRules({ vocab: config.vocab, classes: config.classes, synonyms: config.synonyms, tuple: config.tuple, depth }, grammarSeed, config.rng);
      grammars.set(key, g);
    }
    return g;
  };
  return tasks.map(({ cell, samples }) => {
    const backend = sweepBackendFor(config, cell.depth);
    return {
      grammar: grammarOf(cell.grammarSeed, cell.depth),
      // Only the four spec fields: runCell copies the cell into the stats it returns.
      cell: { grammarSeed: cell.grammarSeed, depth: cell.depth, process: cell.process, noise: cell.noise },
      options: { samples, trajectories: config.trajectories, schedule, correlations: config.correlations, ...(backend ? { backend } : {}) },
    };
  });
}

/** Runs one cell of a sweep on this thread (the workers run the same {@link sweepCellRuns}). */
export function runSweepTask(task: SweepTask): CellStats {
  const [{ grammar, cell, options }] = sweepCellRuns(task.config, [task]);
  return runCell(grammar, cell, options);
}
