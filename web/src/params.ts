/**
 * The page's controls as plain data: defaults, the URL that encodes them (the share URL), and
 * their validation. Grammar parameters are checked by the library's own validateParams
 * (src/grammar/params.ts), so the messages are the CLI's; the page adds only its own size limits.
 * Pure functions, no DOM.
 */
import { ParamError } from '../../src/core/errors.ts';
import { validateParams, type GrammarParams } from '../../src/grammar/params.ts';
import { PROCESS_NAMES, type ProcessName } from '../../src/noise/process.ts';
import { SCHEDULE_NAMES, type ScheduleName } from '../../src/noise/schedule.ts';

export type Precision = 'f64' | 'f32';
export const PRECISIONS: readonly Precision[] = ['f64', 'f32'];

/** Every control of the page, as the URL carries it. Numbers may be NaN while a field is being typed. */
export interface PageState {
  v: number;
  m: number;
  s: number;
  L: number;
  nc: number;
  process: ProcessName;
  schedule: ScheduleName;
  /** The slider: ε for eps, uniform and mask; t/T for gaussian (t = 0 clean). */
  noise: number;
  gseed: number;
  dseed: number;
  precision: Precision;
  /** Which backward trajectory of the datum is drawn (the "another trajectory" button counts up). */
  traj: number;
  /** Depths of the curves. */
  curveDepths: number[];
  /** Noise levels per curve. */
  curveLevels: number;
  /** Data per point when the curves are complete (they refine in passes of {@link PASS_DATA}). */
  curveData: number;
  /** The depth whose level-by-level curves are drawn (0: the deepest curve depth). */
  levelsDepth: number;
}

export const DEFAULTS: PageState = {
  // The paper's grammar sizes (v = n_c = 32, m = 8, s = 2): a sharp transition near ε* ≈ 0.73.
  v: 32,
  m: 8,
  s: 2,
  L: 6,
  nc: 32,
  process: 'eps',
  schedule: 'linear',
  noise: 0.7,
  gseed: 1,
  dseed: 1,
  precision: 'f64',
  traj: 0,
  curveDepths: [2, 4, 6, 8],
  curveLevels: 12,
  curveData: 400,
  levelsDepth: 0,
};

/** Data added to every point per pass of the curves. */
export const PASS_DATA = 100;
/** The page draws at most this many leaves (s^L). */
export const MAX_DRAWN_LEAVES = 1024;
/** Largest vocabulary the page accepts (colours stay tellable apart, curves stay quick). */
export const MAX_PAGE_VOCAB = 64;
/** Curve depths whose data have more tokens than this are skipped (browser time). */
export const MAX_CURVE_LEAVES = 1024;
export const MAX_SEED = 2 ** 31 - 1;

/** The x range of the slider and of the charts, per process. */
export function noiseRange(process: ProcessName): { min: number; max: number; step: number } {
  return process === 'gaussian' ? { min: 0, max: 0.5, step: 0.005 } : { min: 0, max: 1, step: 0.01 };
}

/** Where the curves' noise levels lie (around the transition of each process). */
export function curveWindow(process: ProcessName): [number, number] {
  switch (process) {
    case 'eps':
      return [0.3, 0.95];
    case 'uniform':
      return [0.1, 0.9];
    case 'mask':
      return [0.05, 0.9];
    case 'gaussian':
      return [0.02, 0.45];
  }
}

/** `count` noise levels evenly spaced over the process's window, rounded to 1e−4. */
export function curveNoises(process: ProcessName, count: number): number[] {
  const [a, b] = curveWindow(process);
  if (count <= 1) return [Math.round(((a + b) / 2) * 1e4) / 1e4];
  return Array.from({ length: count }, (_, i) => Math.round((a + ((b - a) * i) / (count - 1)) * 1e4) / 1e4);
}

/** What the slider does, per process, in plain words. */
export function noiseHint(process: ProcessName): string {
  switch (process) {
    case 'eps':
      return "The theory's noise: tokens are not changed, but the denoiser only trusts each one with weight 1 − ε.";
    case 'uniform':
      return 'Each token is replaced by a uniformly random symbol with probability ε.';
    case 'mask':
      return 'Each token is hidden (masked) with probability ε.';
    case 'gaussian':
      return 'Gaussian noise added to one-hot tokens up to time t of the schedule (t = 0: clean).';
  }
}

/** The control ids of the page (the test hooks) by field. */
export const CONTROL_IDS = {
  v: 'param-v',
  m: 'param-m',
  s: 'param-s',
  L: 'param-L',
  nc: 'param-nc',
  process: 'param-process',
  schedule: 'param-schedule',
  noise: 'noise-slider',
  gseed: 'param-gseed',
  dseed: 'param-dseed',
  precision: 'param-precision',
} as const;

export type ControlField = keyof typeof CONTROL_IDS;

/** Which control a library ParamError names. */
const FIELD_OF_PARAM: Record<string, ControlField> = { vocab: 'v', synonyms: 'm', tuple: 's', depth: 'L', classes: 'nc' };

/** One message next to one control. */
export interface FieldError {
  field: ControlField;
  message: string;
}

/** The constraint behind a library message, in the paper's symbols (shown above the library's words). */
function plainWords(field: ControlField, st: PageState): string {
  const { v, s, m } = st;
  const finite = (x: number) => Number.isFinite(x);
  switch (field) {
    case 'v':
      return 'v (vocabulary) must be an integer ≥ 2';
    case 's':
      return finite(v) ? `s (branching) must be an integer ≥ 2 with v^s ≤ 2^31` : 's (branching) must be an integer ≥ 2';
    case 'm':
      return finite(v) && finite(s) && s >= 2 ? `m must be ≤ v^(s−1) = ${v ** (s - 1)}` : 'm must be an integer ≥ 1';
    case 'nc':
      return finite(v) && finite(s) && finite(m) && m >= 1 ? `n_c must be ≤ v^s / m = ${Math.floor(v ** s / m)} (each class needs m tuples of its own)` : 'n_c must be an integer ≥ 1';
    case 'L':
      return 'L (depth) must be an integer ≥ 1';
    default:
      return '';
  }
}

/** The grammar parameters of a state (depth L), unchecked. */
export function grammarInput(st: PageState, depth = st.L): { vocab: number; synonyms: number; tuple: number; depth: number; classes: number } {
  return { vocab: st.v, synonyms: st.m, tuple: st.s, depth, classes: st.nc };
}

/**
 * Every problem with the controls, at most one per control: the library's validateParams (its
 * first complaint), then the page's own limits and the seeds. Empty when the page can compute.
 */
export function validateState(st: PageState): FieldError[] {
  const errors: FieldError[] = [];
  // The library names one parameter at a time, as the CLI does: the others' limits depend on it.
  try {
    validateParams(grammarInput(st));
  } catch (e) {
    if (!(e instanceof ParamError)) throw e;
    const field = FIELD_OF_PARAM[e.param] ?? 'v';
    errors.push({ field, message: `${plainWords(field, st)}. ${capitalise(e.message.replace(' NaN ', ' (empty) '))}.` });
  }
  if (!errors.some((e) => e.field === 'v') && Number.isInteger(st.v) && st.v > MAX_PAGE_VOCAB) {
    errors.push({ field: 'v', message: `The explorer takes v ≤ ${MAX_PAGE_VOCAB} (colours and curves stay quick); the CLI takes any v.` });
  }
  if (!errors.some((e) => e.field === 'L' || e.field === 's') && Number.isInteger(st.s) && Number.isInteger(st.L) && st.s ** st.L > MAX_DRAWN_LEAVES) {
    errors.push({ field: 'L', message: `The explorer draws at most ${MAX_DRAWN_LEAVES} leaves: s^L = ${st.s ** st.L}. Lower L or s.` });
  }
  for (const field of ['gseed', 'dseed'] as const) {
    const x = st[field];
    if (!Number.isInteger(x) || x < 0 || x > MAX_SEED) errors.push({ field, message: `${field === 'gseed' ? 'Grammar' : 'Data'} seed must be an integer in [0, ${MAX_SEED}].` });
  }
  return errors;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The checked grammar parameters at depth L (call only when {@link validateState} is empty). */
export function grammarParams(st: PageState, depth = st.L): GrammarParams {
  return validateParams(grammarInput(st, depth));
}

/** The curve depths the page runs: those within its size limit, ascending, distinct. */
export function runnableDepths(st: PageState): { depths: number[]; skipped: number[] } {
  const all = [...new Set(st.curveDepths)].filter((d) => Number.isInteger(d) && d >= 1).sort((a, b) => a - b);
  const ok = (d: number) => st.s ** d <= MAX_CURVE_LEAVES;
  return { depths: all.filter(ok), skipped: all.filter((d) => !ok(d)) };
}

// ---- URL ----

const NUMBER_FIELDS = ['v', 'm', 's', 'L', 'nc', 'noise', 'gseed', 'dseed', 'traj'] as const;

/** The query string encoding every control (curve settings only when not the default). */
export function toQuery(st: PageState): string {
  const q = new URLSearchParams();
  for (const k of NUMBER_FIELDS) q.set(k, numberText(st[k]));
  q.set('process', st.process);
  q.set('schedule', st.schedule);
  q.set('precision', st.precision);
  if (st.curveDepths.join(',') !== DEFAULTS.curveDepths.join(',')) q.set('curveDepths', st.curveDepths.join(','));
  if (st.curveLevels !== DEFAULTS.curveLevels) q.set('curveLevels', String(st.curveLevels));
  if (st.curveData !== DEFAULTS.curveData) q.set('curveData', String(st.curveData));
  if (st.levelsDepth !== DEFAULTS.levelsDepth) q.set('levelsDepth', String(st.levelsDepth));
  // Commas read better unescaped, and are legal in a query.
  return q.toString().replace(/%2C/g, ',');
}

function numberText(x: number): string {
  return Number.isFinite(x) ? String(x) : '';
}

function pick<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function readNumber(value: string | null, fallback: number): number {
  if (value === null) return fallback;
  if (value.trim() === '') return NaN;
  return Number(value);
}

function clampInt(value: string | null, fallback: number, min: number, max: number): number {
  const x = value === null ? fallback : Math.round(Number(value));
  return Number.isFinite(x) ? Math.min(max, Math.max(min, x)) : fallback;
}

/** The state a query string describes; missing or unreadable fields take their defaults. */
export function fromQuery(search: string): PageState {
  const q = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
  const st: PageState = { ...DEFAULTS, curveDepths: [...DEFAULTS.curveDepths] };
  for (const k of NUMBER_FIELDS) st[k] = readNumber(q.get(k), DEFAULTS[k]);
  if (!Number.isFinite(st.traj) || st.traj < 0) st.traj = 0;
  st.process = pick(q.get('process'), PROCESS_NAMES, DEFAULTS.process);
  st.schedule = pick(q.get('schedule'), SCHEDULE_NAMES, DEFAULTS.schedule);
  st.precision = pick(q.get('precision'), PRECISIONS, DEFAULTS.precision);
  const range = noiseRange(st.process);
  if (!Number.isFinite(st.noise)) st.noise = DEFAULTS.noise;
  st.noise = Math.min(range.max, Math.max(range.min, st.noise));
  const depths = q.get('curveDepths');
  if (depths !== null) {
    const list = depths
      .split(',')
      .map((x) => Math.round(Number(x)))
      .filter((d) => Number.isFinite(d) && d >= 1 && d <= 20);
    if (list.length) st.curveDepths = [...new Set(list)].sort((a, b) => a - b);
  }
  st.curveLevels = clampInt(q.get('curveLevels'), DEFAULTS.curveLevels, 2, 64);
  st.curveData = clampInt(q.get('curveData'), DEFAULTS.curveData, 1, 100000);
  st.levelsDepth = clampInt(q.get('levelsDepth'), DEFAULTS.levelsDepth, 0, 20);
  return st;
}

/** The key of everything the curves depend on: a new key restarts them. */
export function curvesKey(st: PageState): string {
  return JSON.stringify([st.v, st.m, st.s, st.nc, st.gseed, st.process, st.schedule, st.precision, st.curveDepths, st.curveLevels, st.curveData]);
}
