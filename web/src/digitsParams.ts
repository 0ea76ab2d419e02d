/**
 * Which view the page shows and the digits view's controls, as the share URL carries them
 * (`view=digits&digit=…&t=…&seed=…&j=…`, beside the RHM view's parameters of params.ts). Pure.
 */
import { DIGITS_STEPS, DIGITS_TRAJECTORIES } from './digitsModel.ts';

export type View = 'rhm' | 'digits';

export interface DigitsState {
  /** Index of the digit among the page's 100 (label · 10 + k). */
  digit: number;
  /** Noise time t/T = k/100, k = 1 … 100. */
  t: number;
  /** Noise seed (`--seed` of the CLI): "New forward noise" counts it up. */
  seed: number;
  /** First trajectory shown (j0): "Draw new trajectories" adds K. */
  j: number;
  /** Digits per class at every point when the class-kept curve is complete (1 … 10; 0: no curve). */
  curvePerClass: number;
  /** onnxruntime-web's WebAssembly threads: 0 = automatic (digitsView.ts: 2 when cross-origin isolated on ≥ 2 cores, else 1), or 1 … 4. */
  threads: number;
}

/** Digits shipped with the page (mnist-digits.bin): 10 per class. */
export const DIGITS_COUNT = 100;
export const MAX_DIGITS_SEED = 2 ** 31 - 1;

export const DIGITS_DEFAULTS: DigitsState = { digit: 30, t: 0.5, seed: 0, j: 0, curvePerClass: 5, threads: 0 };

function int(value: string | null, fallback: number, min: number, max: number): number {
  const x = value === null || value.trim() === '' ? NaN : Number(value);
  return Number.isInteger(x) && x >= min && x <= max ? x : fallback;
}

/** t/T rounded onto the grid 1/K … 1 of the respaced process. */
export function onGrid(t: number): number {
  const k = Math.min(DIGITS_STEPS, Math.max(1, Math.round(t * DIGITS_STEPS)));
  return k / DIGITS_STEPS;
}

export function viewFromQuery(search: string): View {
  return new URLSearchParams(search).get('view') === 'digits' ? 'digits' : 'rhm';
}

/** The digits state a query string describes; missing or unreadable fields take their defaults. */
export function digitsFromQuery(search: string): DigitsState {
  const q = new URLSearchParams(search);
  const d = DIGITS_DEFAULTS;
  const t = Number(q.get('t') ?? NaN);
  return {
    digit: int(q.get('digit'), d.digit, 0, DIGITS_COUNT - 1),
    t: Number.isFinite(t) && t > 0 && t <= 1 ? onGrid(t) : d.t,
    seed: int(q.get('seed'), d.seed, 0, MAX_DIGITS_SEED),
    // j0 + K − 1 stays a valid trajectory index.
    j: int(q.get('j'), d.j, 0, MAX_DIGITS_SEED - DIGITS_TRAJECTORIES),
    curvePerClass: int(q.get('curvePerClass'), d.curvePerClass, 0, 10),
    threads: int(q.get('threads'), d.threads, 0, 4),
  };
}

/** The view's part of the query string: empty for the RHM view (its URLs stay as they were). */
export function viewToQuery(view: View, st: DigitsState): string {
  if (view === 'rhm') return '';
  const q = new URLSearchParams({ view, digit: String(st.digit), t: st.t.toFixed(2), seed: String(st.seed), j: String(st.j) });
  if (st.curvePerClass !== DIGITS_DEFAULTS.curvePerClass) q.set('curvePerClass', String(st.curvePerClass));
  if (st.threads !== DIGITS_DEFAULTS.threads) q.set('threads', String(st.threads));
  return q.toString();
}
