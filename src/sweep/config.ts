import { readDecimal } from '../cli/parse.ts';
import { ParamError, resolveVariant } from '../core/errors.ts';
import { noiseKey } from '../experiment/forwardBackward.ts';
import { RULE_RNGS, type RuleRng } from '../grammar/sampleRules.ts';
import { grammarFromJson, grammarToJson, type GrammarJson } from '../grammar/serialize.ts';
import { validateParams } from '../grammar/params.ts';
import { PROCESS_NAMES, type ProcessName } from '../noise/process.ts';
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

function fail(field: string, message: string): never {
  throw new ParamError(field, `invalid sweep config ${field}: ${message}`);
}

function intField(o: Record<string, unknown>, field: string, min: number, max: number, fallback?: number): number {
  const x = o[field] ?? fallback;
  if (x === undefined) fail(field, 'missing');
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) fail(field, `${JSON.stringify(x)} (expected an integer in [${min}, ${max}])`);
  return x;
}

function intList(o: Record<string, unknown>, field: string, min: number, max: number): number[] {
  const x = o[field];
  if (!Array.isArray(x) || x.length === 0) fail(field, 'expected a non-empty list of integers');
  for (const d of x) if (typeof d !== 'number' || !Number.isInteger(d) || d < min || d > max) fail(field, `${JSON.stringify(d)} (expected integers in [${min}, ${max}])`);
  if (new Set(x).size !== x.length) fail(field, 'values must be distinct');
  return x as number[];
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

  let grammar: GrammarJson | null = null;
  let vocab: number, classes: number, synonyms: number, tuple: number, depths: number[];
  if (o.grammar !== undefined && o.grammar !== null) {
    let g;
    try {
      g = grammarFromJson(o.grammar);
    } catch (e) {
      fail('grammar', (e as Error).message);
    }
    grammar = grammarToJson(g);
    ({ vocab, classes, synonyms, tuple } = g);
    depths = [g.depth];
    // Fields given next to a saved grammar must agree with it, so a config never says two things.
    for (const [field, value] of [['vocab', vocab], ['classes', classes], ['synonyms', synonyms], ['tuple', tuple]] as const) {
      if (o[field] !== undefined && o[field] !== value) fail(field, `${JSON.stringify(o[field])} differs from the saved grammar's ${value}`);
    }
    if (o.depths !== undefined && JSON.stringify(o.depths) !== JSON.stringify(depths)) fail('depths', `${JSON.stringify(o.depths)} differs from the saved grammar's depth [${g.depth}]`);
    if (o.grammars !== undefined && o.grammars !== 1) fail('grammars', `${JSON.stringify(o.grammars)} (a saved grammar is one grammar: expected 1)`);
  } else {
    vocab = intField(o, 'vocab', 2, 65536);
    classes = intField(o, 'classes', 1, Number.MAX_SAFE_INTEGER, vocab);
    synonyms = intField(o, 'synonyms', 1, Number.MAX_SAFE_INTEGER);
    tuple = intField(o, 'tuple', 2, 16, 2);
    depths = intList(o, 'depths', 1, 64);
    // docs/science.md §1 constraints, checked for every depth before any work starts.
    for (const depth of depths) {
      try {
        validateParams({ vocab, classes, synonyms, tuple, depth });
      } catch (e) {
        fail((e as ParamError).param ?? 'grammar', (e as Error).message);
      }
    }
  }
  if (o.rng !== undefined && typeof o.rng !== 'string') fail('rng', 'expected a string');
  const rng = resolveVariant('rng', (o.rng as string | undefined) ?? 'own', RULE_RNGS);
  const seed = intField(o, 'seed', 0, Number.MAX_SAFE_INTEGER, 0);
  const grammars = intField(o, 'grammars', 1, 10000, 1);
  if (seed + grammars - 1 > Number.MAX_SAFE_INTEGER) fail('grammars', 'seed + grammars − 1 exceeds the largest safe integer');

  const levels = o.noiseLevels;
  if (typeof levels !== 'object' || levels === null || Array.isArray(levels)) fail('noiseLevels', 'expected an object { process: [levels] }');
  const levelsIn = levels as Record<string, unknown>;
  let processes: ProcessName[];
  if (o.processes === undefined) {
    processes = PROCESS_NAMES.filter((p) => p in levelsIn);
  } else {
    if (!Array.isArray(o.processes) || o.processes.length === 0) fail('processes', 'expected a non-empty list');
    processes = o.processes.map((p) => resolveVariant('process', String(p), PROCESS_NAMES));
    if (new Set(processes).size !== processes.length) fail('processes', 'values must be distinct');
  }
  if (processes.length === 0) fail('noiseLevels', 'expected levels for at least one process');
  for (const k of Object.keys(levelsIn)) if (!processes.includes(k as ProcessName)) fail('noiseLevels', `"${k}" is not one of the processes (${processes.join(', ')})`);
  const noiseLevels: Partial<Record<ProcessName, number[]>> = {};
  for (const p of processes) {
    const list = typeof levelsIn[p] === 'string' ? expandLevels(p, levelsIn[p] as string) : levelsIn[p];
    if (!Array.isArray(list) || list.length === 0) fail('noiseLevels', `${p}: expected a non-empty list of numbers in [0, 1]`);
    for (const x of list) if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) fail('noiseLevels', `${p}: ${JSON.stringify(x)} (expected numbers in [0, 1])`);
    // Cells' random streams are keyed by the level rounded to 1e−9: closer levels would share streams.
    if (new Set(list.map((x: number) => noiseKey(x))).size !== list.length) fail('noiseLevels', `${p}: values must be distinct (to 1e-9)`);
    noiseLevels[p] = [...(list as number[])];
  }

  const samples = intField(o, 'samples', 1, 1e9);
  const byDepthIn = o.samplesByDepth ?? {};
  if (typeof byDepthIn !== 'object' || byDepthIn === null || Array.isArray(byDepthIn)) fail('samplesByDepth', 'expected an object { depth: samples }');
  const samplesByDepth: Record<string, number> = {};
  const byDepthKeys = Object.keys(byDepthIn).sort((a, b) => Number(a) - Number(b));
  for (const k of byDepthKeys) {
    if (!/^\d+$/.test(k) || !depths.includes(Number(k))) fail('samplesByDepth', `"${k}" is not one of the depths (${depths.join(', ')})`);
    samplesByDepth[String(Number(k))] = intField(byDepthIn as Record<string, unknown>, k, 1, 1e9);
  }
  const trajectories = intField(o, 'trajectories', 1, 100000, 4);
  if (o.schedule !== undefined && typeof o.schedule !== 'string') fail('schedule', 'expected a string');
  const schedule = resolveVariant('schedule', (o.schedule as string | undefined) ?? 'linear', SCHEDULE_NAMES);
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

/**
 * A grid written as text: a list `0.6,0.7` or a range `start:end:count` (count evenly spaced
 * values, both ends included, rounded to 12 significant digits so 0.5:0.9:9 gives 0.55, not
 * 0.5499999999), as the CLI's --noise-levels reads it.
 */
function expandLevels(p: string, text: string): number[] {
  const expected = 'expected a list like [0.6, 0.7], "0.6,0.7" or a range "start:end:count"';
  const bad = (): never => fail('noiseLevels', `${p}: "${text}" (${expected})`);
  // Decimal literals only, by the CLI's rule and with its wording (cli/parse.ts readDecimal): no 0x1, Infinity, 1e-400.
  const num = (t: string): number => {
    const r = readDecimal(t);
    return 'problem' in r ? fail('noiseLevels', `${p}: "${t}" (${r.problem}; ${expected})`) : r.value;
  };
  if (text.includes(':')) {
    const parts = text.split(':');
    if (parts.length !== 3 || !/^\s*\d+\s*$/.test(parts[2])) bad();
    const [a, b, n] = [num(parts[0]), num(parts[1]), Number(parts[2])];
    if (n < 1 || n > 100000 || (n === 1 && a !== b)) bad();
    return Array.from({ length: n }, (_, i) => (n === 1 ? a : Number((a + ((b - a) * i) / (n - 1)).toPrecision(12))));
  }
  return text.split(',').map(num);
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
