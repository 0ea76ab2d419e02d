/**
 * The options shared by the commands and the sweep config (docs/sweeps.md): one table of names,
 * ranges, help and defaults, so a flag, its config field and their error messages read the same
 * everywhere. The CLI declares its commander options from it; library validators check against
 * its ranges. Choices (processes, schedules, rule generators) are resolved by their owners.
 */
import { checkInt, invalidValue, type ValueSource } from './errors.ts';

/** One option: `--flag <arg>` on the command line, `field` in a config file. */
export interface OptionSpec {
  /** The flag as typed after `--`. */
  readonly flag: string;
  /** Its field in a sweep config. */
  readonly field: string;
  /** The value's placeholder in help (`<n>`); absent for a switch. */
  readonly arg?: string;
  readonly help: string;
  /** Commander's default (as text); absent when the option has none. */
  readonly default?: string;
  /** Range of an integer option. */
  readonly min?: number;
  readonly max?: number;
}

const SAFE = Number.MAX_SAFE_INTEGER;

export const OPTIONS = {
  vocab: { flag: 'vocab', field: 'vocab', arg: '<v>', help: 'symbols per level, v', default: '32', min: 2, max: 65536 },
  classes: { flag: 'classes', field: 'classes', arg: '<nc>', help: 'root classes, n_c (default: v)', min: 1, max: SAFE },
  synonyms: { flag: 'synonyms', field: 'synonyms', arg: '<m>', help: 'rules per symbol, m', default: '8', min: 1, max: SAFE },
  tuple: { flag: 'tuple', field: 'tuple', arg: '<s>', help: 'children per node, s', default: '2', min: 2, max: 16 },
  depth: { flag: 'depth', field: 'depths', arg: '<L>', help: 'depth L (leaves are level L)', min: 1, max: 64 },
  seed: { flag: 'seed', field: 'seed', arg: '<n>', help: 'seed of the grammar (and of every random stream)', default: '0', min: 0, max: SAFE },
  rng: { flag: 'rng', field: 'rng', arg: '<own|python>', help: 'rule generator: own, or python (bit-compatible with the published code)', default: 'own' },
  grammar: { flag: 'grammar', field: 'grammar', arg: '<file>', help: 'use a saved grammar JSON instead of drawing one' },
  process: { flag: 'process', field: 'processes', arg: '<names>', help: 'eps, uniform, mask or gaussian (comma list allowed)', default: 'eps' },
  noiseLevels: {
    flag: 'noise-levels',
    field: 'noiseLevels',
    arg: '<list>',
    help: 'list 0.6,0.7 or range start:end:count; ε for eps/uniform/mask, t/T for gaussian',
    default: '0.5:0.9:5',
    min: 0,
    max: 1,
  },
  schedule: { flag: 'schedule', field: 'schedule', arg: '<name>', help: 'linear or cosine (gaussian)', default: 'linear' },
  samples: { flag: 'samples', field: 'samples', arg: '<n>', help: 'data per grammar and cell', default: '1000', min: 1, max: 1e9 },
  trajectories: { flag: 'trajectories', field: 'trajectories', arg: '<k>', help: 'posterior samples per datum (chi needs >= 2)', default: '4', min: 1, max: 100000 },
  grammars: { flag: 'grammars', field: 'grammars', arg: '<g>', help: 'number of grammar seeds: seed, seed+1, ..., seed+g-1', default: '1', min: 1, max: 10000 },
  correlations: { flag: 'correlations', field: 'correlations', help: 'also compute C(r) and C by tree distance (O(d^2 K) per datum)' },
  workers: { flag: 'workers', field: 'workers', arg: '<n>', help: 'worker threads; results do not depend on it', min: 1, max: 1024 },

  // Neural networks: the image commands (images …), the learned RHM denoiser (train, evaluate,
  // learn-study) and MNIST (images demo, images train-mnist). Ranges differ between commands where
  // the models do (each parses with its own), so only the shared ones carry one here.
  /** T of a diffusion: steps of its original (unrespaced) process. */
  diffusionSteps: { flag: 'diffusion-steps', field: 'diffusionSteps', arg: '<T>', help: "steps of the model's original process", default: '1000' },
  respacing: { flag: 'respacing', field: 'respacing', arg: '<spec>', help: 'steps kept: a count ("250"), section counts ("10,15,20") or "ddimN"' },
  variance: { flag: 'variance', field: 'variance', arg: '<mode>', help: 'reverse-step variance' },
  sampler: { flag: 'sampler', field: 'sampler', arg: '<name>', help: 'ddpm (ancestral) or ddim[:η]', default: 'ddpm' },
  betaStart: { flag: 'beta-start', field: 'betaStart', arg: '<b1>', help: 'β at u = 0 of β_u = β₁ + (β₂ − β₁)·u/T', default: '0.001' },
  betaEnd: { flag: 'beta-end', field: 'betaEnd', arg: '<b2>', help: 'β at u = T', default: '0.1' },
  /** The evaluation batch: data per call of a model (not the training batch, `batch`). */
  batchSize: { flag: 'batch-size', field: 'batchSize', arg: '<n>', help: 'images per model call' },
  classifierBatchSize: { flag: 'classifier-batch-size', field: 'classifierBatchSize', arg: '<n>', help: 'images per classifier call' },
  /** The training batch: data per optimisation step. */
  batch: { flag: 'batch', field: 'batch', arg: '<n>', help: 'batch size', default: '64' },
  /** Training steps (optimisation steps), never the steps of a diffusion (`diffusionSteps`). */
  steps: { flag: 'steps', field: 'steps', arg: '<n>', help: 'optimisation steps' },
  threads: { flag: 'threads', field: 'threads', arg: '<n>', help: 'CPU threads of onnxruntime (default: all cores)', min: 1, max: 1024 },
  device: { flag: 'device', field: 'device', arg: '<name>', help: 'execution provider', default: 'cpu' },
  perClass: { flag: 'per-class', field: 'perClass', arg: '<n>', help: 'first n images of each class, in name order (every class needs n)' },
  times: { flag: 'times', field: 'times', arg: '<list>', help: 'times t (1 … T) of the forward–backward experiment' },
  fbSamples: { flag: 'fb-samples', field: 'fbSamples', arg: '<n>', help: 'data per time of the forward–backward experiment' },
} as const satisfies Record<string, OptionSpec>;

/**
 * Old spellings kept for one release (docs/guide.md, "Renamed options"): typed, they print a one-line note on stderr and
 * set the option they were renamed to. `commands`: where the old spelling is accepted.
 */
export const RENAMED_OPTIONS = [
  { old: 'steps', option: OPTIONS.diffusionSteps, commands: ['images schedule'] },
  { old: 'batch', option: OPTIONS.batchSize, commands: ['evaluate'] },
  { old: 'eval-batch', option: OPTIONS.batchSize, commands: ['learn-study'] },
  { old: 'steps', option: OPTIONS.times, commands: ['images forward-backward'] },
] as const satisfies readonly { old: string; option: OptionSpec; commands: readonly string[] }[];

/** An option with an integer range. */
export type IntegerOption = OptionSpec & { readonly min: number; readonly max: number };

/** A decimal literal: digits with an optional fraction and exponent (0.5, .5, 5., 1e-3, -2.5E+4). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The value of a decimal number written as text, or why it has none: `not a decimal number`
 * (hex, octal and binary literals, Infinity, NaN, '' …), `overflows` (beyond the largest double) or
 * `underflows to 0` (a non-zero literal too small for a double). −0 reads as 0. The one rule for
 * numbers typed by users: CLI options, and the text grids of sweep config files.
 */
export function readDecimal(text: string): { value: number } | { problem: string } {
  const t = text.trim();
  if (!DECIMAL.test(t)) return { problem: 'not a decimal number' };
  const x = Number(t);
  if (!Number.isFinite(x)) return { problem: 'overflows' };
  if (x === 0) return /[1-9]/.test(t.split(/[eE]/)[0]) ? { problem: 'underflows to 0' } : { value: 0 };
  return { value: x };
}

/** A number written as text: a decimal literal in [min, max], else `invalid <label> "text" (<problem; >expected a number in [min, max])`. */
export function readNumberAt(source: ValueSource, text: string, min: number, max: number): number {
  const r = readDecimal(text);
  if ('problem' in r || r.value < min || r.value > max) throw invalidValue(source, `"${text}"`, `${'problem' in r ? `${r.problem}; ` : ''}expected a number in [${min}, ${max}]`);
  return r.value;
}

/** The value of an integer written as text: digits only (no hex, exponent or fraction), else NaN; −0 reads as 0. */
export function readInteger(text: string): number {
  const t = text.trim();
  const x = /^[+-]?\d+$/.test(t) ? Number(t) : NaN;
  return x === 0 ? 0 : x;
}

/** A library value checked against an option's range, named `param` (default: the option's field) in the message. */
export function checkOption(option: IntegerOption, value: number, param: string = option.field): number {
  return checkInt(param, value, option.min, option.max);
}
