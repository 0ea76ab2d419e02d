import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { ParamError } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import { summariseCells } from '../../experiment/summary.ts';
import { batchSizeFor } from '../../experiment/forwardBackward.ts';
import { cellResultBytes, fastBatchBytes, formatBytes, MEMORY_LIMIT_ENV, memoryLimit, referenceBatchBytes, WASM_MEMORY_BYTES } from '../../core/resources.ts';
import { sweepBackendFor } from '../../sweep/task.ts';
import type { SweepConfig } from '../../sweep/config.ts';
import { PROCESS_NAMES, type ProcessName } from '../../noise/process.ts';
import { parseShard, runSweep, validateSweepConfig, type SweepConfigInput, type SweepProgress } from '../../sweep/index.ts';
import { shardFromEnvironment } from '../../sweep/shard.ts';
import { readJsonFile } from '../files.ts';
import { refuseExisting } from '../../core/outputDir.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { addGrammarOptions, resolveGrammarOptions, type GrammarOptionValues } from '../grammarOptions.ts';
import { addOption, checkScheduleUsed, kebab, parseInteger, parseNoiseLevels, parseOption } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { formatRows, parseProcesses } from './forwardBackward.ts';
import { printSweepStatus, submitSweepToSlurm, type SlurmOptionValues } from './sweepSlurm.ts';

export interface SweepOptionValues extends GrammarOptionValues, SlurmOptionValues {
  process: string;
  noiseLevels: string;
  noiseLevelsEps?: string;
  noiseLevelsUniform?: string;
  noiseLevelsMask?: string;
  noiseLevelsGaussian?: string;
  schedule: string;
  samples: string;
  depthSamples?: string;
  trajectories: string;
  grammars: string;
  correlations?: boolean;
  config?: string;
  workers?: string;
  shard?: string;
  shardCount?: string;
  status?: string;
  slurm?: boolean;
}

/** Options that only go with --slurm, as commander names them. */
const SLURM_ONLY = ['array', 'cpusPerTask', 'time', 'partition', 'sbatchArg', 'wait'];

const PER_PROCESS_OPTION: Record<ProcessName, keyof SweepOptionValues> = {
  eps: 'noiseLevelsEps',
  uniform: 'noiseLevelsUniform',
  mask: 'noiseLevelsMask',
  gaussian: 'noiseLevelsGaussian',
};

/** Options that define the sweep (and so conflict with --config), as commander names them. */
const SWEEP_DEFINING = [
  'vocab',
  'classes',
  'synonyms',
  'tuple',
  'depth',
  'seed',
  'rng',
  'grammar',
  'process',
  'noiseLevels',
  ...Object.values(PER_PROCESS_OPTION),
  'schedule',
  'samples',
  'depthSamples',
  'trajectories',
  'grammars',
  'correlations',
];

/** Options that say how to run a sweep, not what it computes: left out of the recorded command. */
const RUN_ONLY_WITH_VALUE = ['--workers', '--shard', '--shard-count', '--out', '--status', '--array', '--cpus-per-task', '--time', '--partition', '--sbatch-arg'];
const RUN_ONLY_FLAGS = ['--resume', '--overwrite', '--slurm', '--wait'];

/**
 * The argv without the options that say how to run a sweep (workers, shard, out, resume,
 * overwrite, Slurm): what defines the sweep. A Slurm task runs exactly these arguments.
 */
export function sweepDefiningArgv(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (RUN_ONLY_FLAGS.includes(a)) continue;
    if (RUN_ONLY_WITH_VALUE.includes(a)) {
      i++;
      continue;
    }
    if (RUN_ONLY_WITH_VALUE.some((o) => a.startsWith(`${o}=`))) continue;
    kept.push(a);
  }
  return kept;
}

/**
 * The command recorded in a results header: the argv without the run-only options, so a run on 1
 * or 16 workers, a resumed run, every shard of a sweep and every task of a Slurm array record the
 * same command (and a merge of shards equals the unsharded file byte for byte).
 */
export function sweepCommand(argv: readonly string[]): string {
  return runInfo(sweepDefiningArgv(argv)).command;
}

/** `8=600,6=800` → { "8": 600, "6": 800 }, for depths of the sweep. */
function parseDepthSamples(text: string, depths: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*[=:]\s*(\S+)\s*$/.exec(part);
    if (!m) throw new ParamError('depth-samples', `invalid --depth-samples "${text}" (expected L=n pairs, e.g. 8=600,6=800)`);
    const depth = Number(m[1]);
    if (!depths.includes(depth)) throw new ParamError('depth-samples', `invalid --depth-samples "${text}" (depth ${depth} is not one of --depth ${depths.join(',')})`);
    if (String(depth) in out) throw new ParamError('depth-samples', `invalid --depth-samples "${text}" (depth ${depth} given twice)`);
    out[String(depth)] = parseInteger('depth-samples', m[2], OPTIONS.samples.min, OPTIONS.samples.max);
  }
  return out;
}

/** Bytes per cell of the sweep's cell list (every cell is enumerated, also those of other shards). */
const SWEEP_CELL_BYTES = 256;

/**
 * Memory of a sweep before it starts (docs/limits.md): the cell list and the results of this
 * shard's cells (kept for the summary) must fit the limit, and one batch per worker at every
 * depth: of the fast kernels, or of the reference backend at the depths where the fast kernels'
 * 4 GiB WebAssembly memory cannot hold one batch (sweepBackendFor; said on stderr). Returns the
 * workers that fit (one batch per worker; results do not depend on it).
 */
function sweepWorkersThatFit(config: SweepConfig, shards: number, requested: number): { workers: number; notes: string[] } {
  const notes: string[] = [];
  const cells = config.grammars * config.depths.length * config.processes.reduce((n, p) => n + (config.noiseLevels[p]?.length ?? 0), 0);
  const shardCells = Math.ceil(cells / shards);
  const deepest = Math.max(...config.depths);
  const resultBytes = cells * SWEEP_CELL_BYTES + shardCells * cellResultBytes(deepest, config.correlations, config.tuple ** deepest);
  const limit = memoryLimit();
  const gridText = `${cells} cells${shards > 1 ? `, ${shardCells} in this shard` : ''}`;
  if (resultBytes > limit) {
    throw new ParamError('grid', `invalid grid: ${gridText} (needs ≈ ${formatBytes(resultBytes)} of memory, the limit is ${formatBytes(limit)}: a sweep lists every cell and keeps its shard's results; split it into several sweeps by depth, process or grammar seeds)`);
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
      throw new ParamError('depth', `invalid --depth ${depth} (needs ≈ ${formatBytes(bytes)} of memory for one batch of exact BP${reference ? ' on the reference backend' : ''}, the limit is ${formatBytes(budget)}: lower the depth, or raise ${MEMORY_LIMIT_ENV} on a larger machine)`);
    }
    if (reference) {
      notes.push(`sweep: depth ${depth}: the fast kernels need ≈ ${formatBytes(fastBytes)} (their WebAssembly memory is at most ${formatBytes(WASM_MEMORY_BYTES)}); using the reference backend (≈ ${formatBytes(bytes)}, slower)`);
    }
    perWorker = Math.max(perWorker, bytes);
  }
  const workers = Math.max(1, Math.min(requested, Math.floor(budget / Math.max(1, perWorker))));
  if (workers < requested) notes.push(`sweep: ${workers} worker${workers === 1 ? '' : 's'} instead of ${requested} (≈ ${formatBytes(perWorker)} per worker, the limit is ${formatBytes(limit)})`);
  return { workers, notes };
}

/** The sweep config from --config FILE (grids may be lists or `a:b:n` strings there). */
function configFromFile(file: string): SweepConfigInput {
  return readJsonFile('config', file) as SweepConfigInput;
}

/** The sweep config from the grammar and noise options. */
function configFromOptions(o: SweepOptionValues, explicit: (name: string) => boolean): SweepConfigInput {
  const choice = resolveGrammarOptions(o, true);
  const grammarCount = parseOption(OPTIONS.grammars, o.grammars);
  if (choice.file && grammarCount !== 1) throw new ParamError('grammars', 'invalid --grammars with --grammar (a saved grammar is one grammar: expected 1)');
  const perProcess = PROCESS_NAMES.filter((p) => o[PER_PROCESS_OPTION[p]] !== undefined);
  // Without --process, the processes given their own --noise-levels-<process> are the sweep's.
  const processes = explicit('process') || perProcess.length === 0 ? parseProcesses(o.process) : perProcess;
  for (const p of perProcess) {
    if (!processes.includes(p)) throw new ParamError(kebab(PER_PROCESS_OPTION[p]), `invalid --${kebab(PER_PROCESS_OPTION[p])} (process ${p} is not in --process ${processes.join(',')})`);
  }
  checkScheduleUsed(explicit, processes);
  const noiseLevels: Partial<Record<ProcessName, number[]>> = {};
  for (const p of processes) {
    const own = o[PER_PROCESS_OPTION[p]] as string | undefined;
    noiseLevels[p] = own !== undefined ? parseNoiseLevels(kebab(PER_PROCESS_OPTION[p]), own) : parseNoiseLevels('noise-levels', o.noiseLevels);
  }
  const input: SweepConfigInput = {
    seed: choice.seed,
    rng: choice.rng,
    grammars: grammarCount,
    processes,
    noiseLevels,
    samples: parseOption(OPTIONS.samples, o.samples),
    samplesByDepth: o.depthSamples === undefined ? {} : parseDepthSamples(o.depthSamples, choice.depths),
    trajectories: parseOption(OPTIONS.trajectories, o.trajectories),
    schedule: o.schedule,
    correlations: o.correlations ?? false,
  };
  if (choice.file) input.grammar = readJsonFile('grammar', choice.file);
  else Object.assign(input, { ...choice.params, depths: choice.depths });
  return input;
}

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Progress on stderr: a bar (cells, samples, samples/s, ETA) on a terminal; elsewhere (Slurm
 * logs, CI) one line every 30 s.
 */
function sweepProgress(): { update(p: SweepProgress): void; stop(): void } {
  if (!process.stderr.isTTY) {
    let last = 0;
    return {
      update(p) {
        if (p.lastKey === null || p.elapsedSeconds - last < 30) return;
        last = p.elapsedSeconds;
        process.stderr.write(`sweep: ${p.cellsDone}/${p.cellsTotal} cells, ${p.samplesDone}/${p.samplesTotal} samples, ${Math.round(p.samplesPerSecond)} samples/s, ETA ${duration(p.etaSeconds)}\n`);
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

export function registerSweep(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('sweep')
    .description('run a grid of forward-backward cells on worker threads into a resumable JSON-lines file (docs/sweeps.md)');
  addOption(cmd, OPTIONS.process);
  addOption(cmd, OPTIONS.noiseLevels, { help: 'noise grid for every process: list 0.6,0.7 or range start:end:count' });
  cmd
    .option('--noise-levels-eps <list>', 'noise grid of the eps process (overrides --noise-levels)')
    .option('--noise-levels-uniform <list>', 'noise grid of the uniform process')
    .option('--noise-levels-mask <list>', 'noise grid of the mask process')
    .option('--noise-levels-gaussian <list>', 'noise grid (t/T) of the gaussian process');
  addOption(cmd, OPTIONS.schedule);
  addOption(cmd, OPTIONS.samples, { help: 'data per cell' });
  cmd.option('--depth-samples <L=n,...>', 'data per cell at given depths, e.g. 8=600');
  for (const option of [OPTIONS.trajectories, OPTIONS.grammars, OPTIONS.correlations]) addOption(cmd, option);
  cmd
    .option('--config <file>', 'the sweep as JSON (instead of the grammar and noise options; see docs/sweeps.md)')
  addOption(cmd, OPTIONS.workers, { help: `worker threads (default: all cores, here ${availableParallelism()})` });
  cmd
    .option('--resume', 'continue --out: skip finished cells, drop a half-written last line')
    .option('--overwrite', 'replace --out if it exists')
    .option('--shard <i/N|auto>', 'run shard i of N (0 <= i < N): cells whose index is i mod N; auto: the shard of this job array task (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shard-count)')
    .option('--shard-count <N>', 'with --shard auto: the number of shards (needed by a Kubernetes Indexed Job; overrides Slurm\'s task count)')
    .option('--out <file>', 'results file (JSON lines)', 'results.jsonl')
    .option('--slurm', 'submit the sweep to Slurm as a job array (sbatch); its script, shard files and logs go to the folder beside --out (results.jsonl -> results.slurm/)')
    .option('--array <n>', 'with --slurm: array tasks, one shard each (default: one per cell, at most 100)')
    .option('--cpus-per-task <c>', 'with --slurm: cores, and so worker threads, per task (default 1)')
    .option('--time <t>', 'with --slurm: time limit per task, e.g. 2:00:00')
    .option('--partition <p>', 'with --slurm: the partition to run on')
    .option('--sbatch-arg <arg>', 'with --slurm: another sbatch option for the script, e.g. --sbatch-arg=--mem=4G (repeatable)', (a: string, all: string[] | undefined) => [...(all ?? []), a])
    .option('--wait', 'with --slurm: wait for the array, then merge its shards into --out (or name the tasks that failed)')
    .option('--status <results>', 'how far a sweep has got: cells done / total of the results file and of each shard of its Slurm folder');
  addGrammarOptions(cmd, { depth: '2,4,6', depthHelp: 'depths, e.g. 2,4,6' }).action(async (o: SweepOptionValues, self: Command) => {
    const explicit = (name: string) => self.getOptionValueSource(name) === 'cli';
    if (o.status !== undefined) {
      const other = self.options.map((opt) => opt.attributeName()).find((name) => name !== 'status' && explicit(name));
      if (other) throw new ParamError(kebab(other), `invalid --${kebab(other)} with --status (--status only reads the files of a sweep)`);
      printSweepStatus(o.status);
      return;
    }
    if (!o.slurm) {
      const slurmOnly = SLURM_ONLY.find(explicit);
      if (slurmOnly) throw new ParamError(kebab(slurmOnly), `invalid --${kebab(slurmOnly)} without --slurm`);
    } else {
      const clash = ['shard', 'shardCount', 'workers'].find(explicit);
      if (clash) throw new ParamError(kebab(clash), `invalid --${kebab(clash)} with --slurm (${clash === 'workers' ? 'each task runs --cpus-per-task workers' : 'each array task runs its own shard'})`);
    }
    refuseExisting('out', o.out, o.slurm ? [] : [o.out], { resume: o.resume, overwrite: o.overwrite, resumable: true });
    if (o.shardCount !== undefined && o.shard !== 'auto') throw new ParamError('shard-count', 'invalid --shard-count without --shard auto');
    let input: SweepConfigInput;
    if (o.config !== undefined) {
      const clash = SWEEP_DEFINING.find(explicit);
      if (clash) throw new ParamError(kebab(clash), `invalid --${kebab(clash)} with --config (the config file defines the sweep)`);
      input = configFromFile(o.config);
    } else input = configFromOptions(o, explicit);
    const config = validateSweepConfig(input);
    if (o.slurm) {
      const workersNotes = (tasks: number, cpus: number) => sweepWorkersThatFit(config, tasks, cpus).notes;
      await submitSweepToSlurm(config, sweepDefiningArgv(argv).slice(2), o, workersNotes);
      return;
    }
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
      result = await runSweep(config, { out: o.out, workers, resume: o.resume ?? false, overwrite: o.overwrite ?? false, shard, command: sweepCommand(argv), onProgress: (p) => (note(), bar.update(p)) });
    } finally {
      bar.stop();
      unhook();
    }
    process.stdout.write(formatRows(summariseCells(result.cells)));
    const where = shard ? ` (shard ${shard.index}/${shard.count})` : '';
    const resumed = result.resumed > 0 ? `, ${result.resumed} found finished` : '';
    process.stderr.write(`sweep: ${result.cells.length} cells${where}${resumed} -> ${o.out}\n`);
  });
}
