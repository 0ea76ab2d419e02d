import { errorToWire, type WireError } from '../core/errors.ts';
import type { CellStats } from '../experiment/cell.ts';
import { referenceBackend } from '../bp/reference.ts';
import type { BpBackend } from '../bp/types.ts';
import { fastBatchBytes, WASM_MEMORY_BYTES } from '../core/resources.ts';
import { batchSizeFor, runCell, type CellSpec } from '../experiment/forwardBackward.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { sampleRules } from '../grammar/sampleRules.ts';
import { grammarFromJson } from '../grammar/serialize.ts';
import { makeSchedule, type Schedule } from '../noise/schedule.ts';
import type { SweepConfig } from './config.ts';

/** What a worker receives for one cell: plain data, structured-cloned across threads. */
export interface SweepTask {
  readonly config: SweepConfig;
  readonly cell: CellSpec;
  readonly samples: number;
}

// Per-thread caches: a worker runs many cells of the same grammar and schedule.
const grammars = new Map<string, Grammar>();
const schedules = new Map<string, Schedule>();

function grammarOf(config: SweepConfig, grammarSeed: number, depth: number): Grammar {
  const key = config.grammar
    ? `file|${JSON.stringify(config.grammar.rules)}`
    : `${config.rng}|${config.vocab}|${config.classes}|${config.synonyms}|${config.tuple}|${depth}|${grammarSeed}`;
  let g = grammars.get(key);
  if (!g) {
    g = config.grammar ? grammarFromJson(config.grammar) : sampleRules({ vocab: config.vocab, classes: config.classes, synonyms: config.synonyms, tuple: config.tuple, depth }, grammarSeed, config.rng);
    grammars.set(key, g);
  }
  return g;
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
 * Runs one cell of a sweep (docs/science.md §4) and returns its statistics. The result depends only on the
 * config and the cell (every random stream is keyed by grammar seed, depth, process and noise),
 * never on which thread runs it. This is the worker threads' handler; it also runs in-thread.
 */
export function runSweepTask(task: SweepTask): CellStats {
  const { config, cell, samples } = task;
  let schedule = schedules.get(config.schedule);
  if (!schedule) {
    schedule = makeSchedule(config.schedule);
    schedules.set(config.schedule, schedule);
  }
  // Only the four spec fields: runCell copies the cell into the stats it returns.
  const spec: CellSpec = { grammarSeed: cell.grammarSeed, depth: cell.depth, process: cell.process, noise: cell.noise };
  const backend = sweepBackendFor(config, cell.depth);
  return runCell(grammarOf(config, cell.grammarSeed, cell.depth), spec, {
    samples,
    trajectories: config.trajectories,
    schedule,
    correlations: config.correlations,
    ...(backend ? { backend } : {}),
  });
}

/** What a worker thread sends back: the cell's statistics, or its error as plain data. */
export type SweepTaskReply = { stats: CellStats } | { error: WireError };

/** The worker threads' handler: {@link runSweepTask} with its typed errors made cloneable. */
export function runSweepTaskOnWorker(task: SweepTask): SweepTaskReply {
  try {
    return { stats: runSweepTask(task) };
  } catch (e) {
    return { error: errorToWire(e) };
  }
}
