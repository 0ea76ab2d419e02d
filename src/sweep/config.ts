import { checkIntegerAt, ParamError, resolveVariant, type ValueSource } from '../core/errors.ts';
import { OPTIONS, type IntegerOption } from '../core/options.ts';
import { resolveRuleRng, type RuleRng } from '../grammar/sampleRules.ts';
import { grammarFromJson, grammarToJson, type GrammarJson } from '../grammar/serialize.ts';
import { validateParams } from '../grammar/params.ts';
import { checkNoiseGrid, parseNoiseGrid } from '../noise/level.ts';
import { PROCESS_NAMES, resolveProcess, type ProcessName } from '../noise/process.ts';
import { SCHEDULE_NAMES, type ScheduleName } from '../noise/schedule.ts';

/**
 * A sweep: the forward–backward experiment of docs/science.md §4 over a grid of cells
 * (grammar seed × depth × process × noise level). Every field is present in the normalised form
 * that {@link validateSweepConfig} returns; that form is what a results file's header stores and
 * what resume and merge compare.
 */
export interface SweepConfig {
  /** v, n_c, m, s of docs/science.md §1 (from the saved grammar when `grammar` is set). */
  vocab: number;
  classes: number;
  synonyms: number;
  tuple: number;
  /** Rule generator: ours, or CPython-compatible (docs/science.md §1). */
  rng: RuleRng;
  /** First grammar seed; grammar seeds are seed, seed+1, …, seed+grammars−1. Also keys every data/noise stream. */
  seed: number;
  /** Number of grammar seeds (1 with a saved grammar). */
  grammars: number;
  /** Depths L, in the order given (the canonical cell order follows it). */
  depths: number[];
  /** Processes, in the order given. */
  processes: ProcessName[];
  /**
   * Noise levels per process (ε for eps/uniform/mask, t/T for gaussian), in the order given: each
   * process's transition sits elsewhere (docs/science.md §4), so each gets its own grid. Keys are exactly
   * `processes`, in that order.
   */
  noiseLevels: Partial<Record<ProcessName, number[]>>;
  /** N: data per cell. */
  samples: number;
  /** Per-depth override of `samples` (keys are depths as decimal strings, ascending), e.g. fewer data at large L. */
  samplesByDepth: Record<string, number>;
  /** K: posterior trajectories per datum (χ needs K ≥ 2). */
  trajectories: number;
  /** Schedule of the gaussian process (docs/science.md §3). */
  schedule: ScheduleName;
  /** Also compute C(r) and C by tree distance (docs/science.md §4). */
  correlations: boolean;
  /** A saved grammar (docs/science.md §1 rules) used for every cell instead of drawing one per seed; null to draw. */
  grammar: GrammarJson | null;
}

/**
 * A sweep as a user writes it (a `--config` file, or `hierdiff reproduce`): `classes` defaults to
 * `vocab`, `tuple` to 2, `rng` to own, `seed` to 0, `grammars` to 1, `processes` to the keys of `noiseLevels`,
 * `samplesByDepth` to none, `trajectories` to 4, `schedule` to linear, `correlations` to false.
 * With `grammar`, the grammar fixes vocab, classes, synonyms, tuple and the one depth.
 */
export interface SweepConfigInput {
  vocab?: number;
  classes?: number;
  synonyms?: number;
  tuple?: number;
  rng?: string;
  seed?: number;
  grammars?: number;
  depths?: number[];
  processes?: string[];
  /** Per process: a list of levels, or the same as text: `"0.6,0.7"` or a range `"start:end:count"`. */
  noiseLevels: Partial<Record<string, number[] | string>>;
  samples: number;
  samplesByDepth?: Record<string, number>;
  trajectories?: number;
  schedule?: string;
  correlations?: boolean;
  grammar?: unknown;
}

const KNOWN_FIELDS = new Set([
  'vocab',
  'classes',
  'synonyms',
  'tuple',
  'rng',
  'seed',
  'grammars',
  'depths',
  'processes',
  'noiseLevels',
  'samples',
  'samplesByDepth',
  'trajectories',
  'schedule',
  'correlations',
  'grammar',
]);

/** A config field as messages name it: `invalid sweep config <field>: …`. */
function configField(field: string, detail?: string): ValueSource {
  return { param: field, label: `sweep config ${field}:${detail ? ` ${detail}:` : ''}` };
}

function fail(field: string, message: string): never {
  throw new ParamError(field, `invalid sweep config ${field}: ${message}`);
}

/** An integer field in its option's range (from the options table), or `fallback` when absent. */
function intField(o: Record<string, unknown>, option: IntegerOption, fallback?: number, field: string = option.field): number {
  const x = o[field] ?? fallback;
  if (x === undefined) fail(field, 'missing');
  return checkIntegerAt(configField(field), x, option.min, option.max, JSON.stringify(x));
}

function intList(o: Record<string, unknown>, option: IntegerOption): number[] {
  const x = o[option.field];
  if (!Array.isArray(x) || x.length === 0) fail(option.field, 'expected a non-empty list of integers');
  for (const d of x) checkIntegerAt(configField(option.field), d, option.min, option.max, JSON.stringify(d));
  if (new Set(x).size !== x.length) fail(option.field, 'values must be distinct');
  return x as number[];
}

/** The grammar part of a config: a saved grammar, or the parameters and depths to draw grammars with. */
type GrammarFields = Pick<SweepConfig, 'grammar' | 'vocab' | 'classes' | 'synonyms' | 'tuple' | 'depths'>;

/** A saved grammar fixes v, n_c, m, s and the one depth; fields given next to it must agree with it, so a config never says two things. */
function savedGrammarFields(o: Record<string, unknown>): GrammarFields {
  let g;
  try {
    g = grammarFromJson(o.grammar);
  } catch (e) {
    fail('grammar', (e as Error).message);
  }
  const grammar = grammarToJson(g);
  const { vocab, classes, synonyms, tuple } = g;
  const depths = [g.depth];
  for (const [field, value] of [
    ['vocab', vocab],
    ['classes', classes],
    ['synonyms', synonyms],
    ['tuple', tuple],
  ] as const) {
    if (o[field] !== undefined && o[field] !== value) fail(field, `${JSON.stringify(o[field])} differs from the saved grammar's ${value}`);
  }
  if (o.depths !== undefined && JSON.stringify(o.depths) !== JSON.stringify(depths)) fail('depths', `${JSON.stringify(o.depths)} differs from the saved grammar's depth [${g.depth}]`);
  if (o.grammars !== undefined && o.grammars !== 1) fail('grammars', `${JSON.stringify(o.grammars)} (a saved grammar is one grammar: expected 1)`);
  return { grammar, vocab, classes, synonyms, tuple, depths };
}

/** Grammar parameters and depths given as fields, with the docs/science.md §1 constraints checked for every depth before any work starts. */
function drawnGrammarFields(o: Record<string, unknown>): GrammarFields {
  const vocab = intField(o, OPTIONS.vocab);
  const classes = intField(o, OPTIONS.classes, vocab);
  const synonyms = intField(o, OPTIONS.synonyms);
  const tuple = intField(o, OPTIONS.tuple, Number(OPTIONS.tuple.default));
  const depths = intList(o, OPTIONS.depth);
  for (const depth of depths) {
    try {
      validateParams({ vocab, classes, synonyms, tuple, depth });
    } catch (e) {
      fail((e as ParamError).param ?? 'grammar', (e as Error).message);
    }
  }
  return { grammar: null, vocab, classes, synonyms, tuple, depths };
}

/** The rule generator and the grammar seeds seed, …, seed + grammars − 1. */
function seedFields(o: Record<string, unknown>): Pick<SweepConfig, 'rng' | 'seed' | 'grammars'> {
  if (o.rng !== undefined && typeof o.rng !== 'string') fail('rng', 'expected a string');
  const rng = resolveRuleRng((o.rng as string | undefined) ?? OPTIONS.rng.default);
  const seed = intField(o, OPTIONS.seed, Number(OPTIONS.seed.default));
  const grammars = intField(o, OPTIONS.grammars, Number(OPTIONS.grammars.default));
  if (seed + grammars - 1 > Number.MAX_SAFE_INTEGER) fail('grammars', 'seed + grammars − 1 exceeds the largest safe integer');
  return { rng, seed, grammars };
}

/** The processes (given, or the keys of `noiseLevels` in canonical order) and each one's noise grid. */
function noiseFields(o: Record<string, unknown>): Pick<SweepConfig, 'processes' | 'noiseLevels'> {
  const levels = o.noiseLevels;
  if (typeof levels !== 'object' || levels === null || Array.isArray(levels)) fail('noiseLevels', 'expected an object { process: [levels] }');
  const levelsIn = levels as Record<string, unknown>;
  let processes: ProcessName[];
  if (o.processes === undefined) {
    processes = PROCESS_NAMES.filter((p) => p in levelsIn);
  } else {
    if (!Array.isArray(o.processes) || o.processes.length === 0) fail('processes', 'expected a non-empty list');
    processes = o.processes.map((p) => resolveProcess(String(p)));
    if (new Set(processes).size !== processes.length) fail('processes', 'values must be distinct');
  }
  if (processes.length === 0) fail('noiseLevels', 'expected levels for at least one process');
  for (const k of Object.keys(levelsIn)) if (!processes.includes(k as ProcessName)) fail('noiseLevels', `"${k}" is not one of the processes (${processes.join(', ')})`);
  const noiseLevels: Partial<Record<ProcessName, number[]>> = {};
  for (const p of processes) {
    const given = levelsIn[p];
    const source = configField('noiseLevels', p);
    if (typeof given === 'string') noiseLevels[p] = parseNoiseGrid(given, source);
    else if (Array.isArray(given)) noiseLevels[p] = checkNoiseGrid(given, source, JSON.stringify(given));
    else fail('noiseLevels', `${p}: expected a non-empty list of numbers in [0, 1]`);
  }
  return { processes, noiseLevels };
}

/** Per-depth overrides of `samples`, keyed by the canonical decimal depth in ascending order. */
function samplesByDepthField(o: Record<string, unknown>, depths: readonly number[]): Record<string, number> {
  const byDepthIn = o.samplesByDepth ?? {};
  if (typeof byDepthIn !== 'object' || byDepthIn === null || Array.isArray(byDepthIn)) fail('samplesByDepth', 'expected an object { depth: samples }');
  const samplesByDepth: Record<string, number> = {};
  const byDepthKeys = Object.keys(byDepthIn).sort((a, b) => Number(a) - Number(b));
  for (const k of byDepthKeys) {
    if (!/^\d+$/.test(k) || !depths.includes(Number(k))) fail('samplesByDepth', `"${k}" is not one of the depths (${depths.join(', ')})`);
    samplesByDepth[String(Number(k))] = intField(byDepthIn as Record<string, unknown>, OPTIONS.samples, undefined, k);
  }
  return samplesByDepth;
}

/**
 * Checks a sweep config (any JSON value: a `--config` file, a results header, or a
 * {@link SweepConfigInput}) and returns its normalised {@link SweepConfig}. Throws a ParamError
 * naming the field. Idempotent: a normalised config validates to an equal one.
 */
export function validateSweepConfig(input: unknown): SweepConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ParamError('config', 'invalid sweep config (expected a JSON object)');
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN_FIELDS.has(k)) fail(k, `unknown field (expected one of ${[...KNOWN_FIELDS].join(', ')})`);

  // The checks run in field order, so the first error reported does not depend on how this is split up.
  const { grammar, vocab, classes, synonyms, tuple, depths } = o.grammar !== undefined && o.grammar !== null ? savedGrammarFields(o) : drawnGrammarFields(o);
  const { rng, seed, grammars } = seedFields(o);
  const { processes, noiseLevels } = noiseFields(o);
  const samples = intField(o, OPTIONS.samples);
  const samplesByDepth = samplesByDepthField(o, depths);
  const trajectories = intField(o, OPTIONS.trajectories, Number(OPTIONS.trajectories.default));
  if (o.schedule !== undefined && typeof o.schedule !== 'string') fail('schedule', 'expected a string');
  const schedule = resolveVariant('schedule', (o.schedule as string | undefined) ?? OPTIONS.schedule.default, SCHEDULE_NAMES);
  if (o.correlations !== undefined && typeof o.correlations !== 'boolean') fail('correlations', 'expected true or false');
  const correlations = (o.correlations as boolean | undefined) ?? false;

  return {
    vocab,
    classes,
    synonyms,
    tuple,
    rng,
    seed,
    grammars,
    depths: [...depths],
    processes,
    noiseLevels,
    samples,
    samplesByDepth,
    trajectories,
    schedule,
    correlations,
    grammar,
  };
}

/** N for cells of depth L: the per-depth override, or `samples`. */
export function samplesAtDepth(config: SweepConfig, depth: number): number {
  return config.samplesByDepth[String(depth)] ?? config.samples;
}

/** Grammar seeds of the sweep: seed, seed+1, …, seed+grammars−1. */
export function grammarSeeds(config: SweepConfig): number[] {
  return Array.from({ length: config.grammars }, (_, i) => config.seed + i);
}

/**
 * The first field in which two normalised configs differ, as `field: a vs b`, or null when they
 * are equal. Used by resume and merge to say why files do not belong together.
 */
export function configDifference(a: SweepConfig, b: SweepConfig): string | null {
  for (const k of Object.keys(a) as (keyof SweepConfig)[]) {
    const x = JSON.stringify(a[k]);
    const y = JSON.stringify(b[k]);
    if (x !== y) return k === 'grammar' ? 'grammar: the saved grammars differ' : `${k}: ${x} vs ${y}`;
  }
  return null;
}
