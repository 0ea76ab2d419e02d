import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { ParamError } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import type { SweepConfig } from '../../sweep/config.ts';
import { PROCESS_NAMES, type ProcessName } from '../../noise/process.ts';
import { validateSweepConfig, type SweepConfigInput } from '../../sweep/index.ts';
import { readJsonFile } from '../files.ts';
import { refuseExisting } from '../../core/outputDir.ts';
import { addGrammarOptions, resolveGrammarOptions, type GrammarOptionValues } from '../grammarOptions.ts';
import { addOption, checkScheduleUsed, kebab, parseInteger, parseNoiseLevels, parseOption } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { parseProcesses } from './forwardBackward.ts';
import { printSweepStatus, submitSweepToSlurm, type SlurmOptionValues } from './sweepSlurm.ts';
import { runLocalSweep, sweepWorkersThatFit } from './sweepLocal.ts';
import { addSlurmOptions, refuseSlurmOnly, SLURM_ARGS_WITH_VALUE, SLURM_FLAGS } from '../slurmArray.ts';

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
const RUN_ONLY_WITH_VALUE = ['--workers', '--shard', '--shard-count', '--out', ...SLURM_ARGS_WITH_VALUE];
const RUN_ONLY_FLAGS = ['--resume', '--overwrite', ...SLURM_FLAGS];

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

export function registerSweep(program: Command, argv: readonly string[]): void {
  const cmd = program.command('sweep').description('run a grid of forward-backward cells on worker threads into a resumable JSON-lines file (docs/sweeps.md)');
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
  cmd.option('--config <file>', 'the sweep as JSON (instead of the grammar and noise options; see docs/sweeps.md)');
  addOption(cmd, OPTIONS.workers, { help: `worker threads (default: all cores, here ${availableParallelism()})` });
  cmd
    .option('--resume', 'continue --out: skip finished cells, drop a half-written last line')
    .option('--overwrite', 'replace --out if it exists')
    .option(
      '--shard <i/N|auto>',
      'run shard i of N (0 <= i < N): cells whose index is i mod N; auto: the shard of this job array task (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shard-count)',
    )
    .option('--shard-count <N>', "with --shard auto: the number of shards (needed by a Kubernetes Indexed Job; overrides Slurm's task count)")
    .option('--out <file>', 'results file (JSON lines)', 'results.jsonl');
  addSlurmOptions(cmd, {
    slurm: 'submit the sweep to Slurm as a job array (sbatch); its script, shard files and logs go to the folder beside --out (results.jsonl -> results.slurm/)',
    array: 'array tasks, one shard each (default: one per cell, at most 100)',
    status: 'how far a sweep has got: cells done / total of the results file and of each shard of its Slurm folder',
    statusArg: '<results>',
    gpus: false,
  });
  addGrammarOptions(cmd, { depth: '2,4,6', depthHelp: 'depths, e.g. 2,4,6' }).action(async (o: SweepOptionValues, self: Command) => {
    const explicit = (name: string) => self.getOptionValueSource(name) === 'cli';
    if (o.status !== undefined) return sweepStatus(o.status, self, explicit);
    const config = sweepConfig(o, explicit);
    if (o.slurm) {
      const workersNotes = (tasks: number, cpus: number) => sweepWorkersThatFit(config, tasks, cpus).notes;
      await submitSweepToSlurm(config, sweepDefiningArgv(argv).slice(2), o, workersNotes);
    } else await runLocalSweep(config, o, sweepCommand(argv));
  });
}

/** `--status`: how far a sweep has got; it only reads files, so any other option is refused. */
function sweepStatus(results: string, self: Command, explicit: (name: string) => boolean): void {
  const other = self.options.map((opt) => opt.attributeName()).find((name) => name !== 'status' && explicit(name));
  if (other) throw new ParamError(kebab(other), `invalid --${kebab(other)} with --status (--status only reads the files of a sweep)`);
  printSweepStatus(results);
}

/** The options checked against the way the sweep runs (here or on Slurm), and its config. */
function sweepConfig(o: SweepOptionValues, explicit: (name: string) => boolean): SweepConfig {
  if (!o.slurm) {
    refuseSlurmOnly(explicit);
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
  return validateSweepConfig(input);
}
