import { checkInt, checkNumber, ParamError, resolveVariant } from '../core/errors.ts';

/**
 * A DDPM noise schedule, precomputed in float64 (docs/science.md §3). Convention: t = 0 is clean data
 * (alphaBar[0] = 1) and t = T is the end; `betas[t]` is β_t for t = 1..T (betas[0] = 0), and
 * `alphaBar[t] = Π_{u=1..t} (1 − β_u)`. guided-diffusion's 0-based index i is our t = i + 1.
 */
export interface Schedule {
  readonly name: string;
  readonly T: number;
  readonly betas: Float64Array;
  readonly alphaBar: Float64Array;
  readonly sqrtAlphaBar: Float64Array;
  readonly sqrtOneMinusAlphaBar: Float64Array;
  /** For a respaced schedule: originalT[t] is the t of the parent schedule (originalT[0] = 0). */
  readonly originalT?: Int32Array;
}

export type ScheduleName = 'linear' | 'cosine';
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['linear', 'cosine'];

/**
 * Throws a ParamError unless `value` is a β in (0, 1]: 1 − β must be a probability (β = 1, ᾱ = 0 from
 * there on, is pure noise; guided-diffusion's linear schedule reaches it at T = 20).
 */
function checkBeta(param: string, value: number): number {
  if (!(value > 0 && value <= 1)) throw new ParamError(param, `invalid ${param} ${String(value)} (expected a number in (0, 1])`);
  return value;
}

function fromBetas(name: string, betas: Float64Array, originalT?: Int32Array): Schedule {
  const T = betas.length - 1;
  const alphaBar = new Float64Array(T + 1);
  alphaBar[0] = 1;
  for (let t = 1; t <= T; t++) alphaBar[t] = alphaBar[t - 1] * (1 - betas[t]);
  return {
    name,
    T,
    betas,
    alphaBar,
    sqrtAlphaBar: alphaBar.map(Math.sqrt),
    sqrtOneMinusAlphaBar: alphaBar.map((a) => Math.sqrt(1 - a)),
    ...(originalT ? { originalT } : {}),
  };
}

/** DDPM linear schedule: β_t = linspace(1e−4, 0.02, T)[t − 1]. */
export function linearSchedule(T = 1000, betaStart = 1e-4, betaEnd = 0.02): Schedule {
  checkInt('T', T, 2, 1e7);
  checkBeta('betaStart', betaStart);
  checkBeta('betaEnd', betaEnd);
  const betas = new Float64Array(T + 1);
  // numpy.linspace: start + i·step, with the last point set exactly to the end.
  const step = (betaEnd - betaStart) / (T - 1);
  for (let i = 0; i < T; i++) betas[i + 1] = i === T - 1 ? betaEnd : betaStart + i * step;
  return fromBetas('linear', betas);
}

/** Improved-DDPM cosine schedule: ᾱ(t) = cos²(((t/T)+0.008)/1.008·π/2) / cos²(0.008/1.008·π/2), β ≤ 0.999. */
export function cosineSchedule(T = 1000, maxBeta = 0.999): Schedule {
  checkInt('T', T, 2, 1e7);
  checkBeta('maxBeta', maxBeta);
  const f = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(T + 1);
  for (let t = 1; t <= T; t++) betas[t] = Math.min(1 - f(t) / f(t - 1), maxBeta);
  return fromBetas('cosine', betas);
}

export function makeSchedule(name: string, T = 1000): Schedule {
  const which = resolveVariant('schedule', name, SCHEDULE_NAMES);
  return which === 'linear' ? linearSchedule(T) : cosineSchedule(T);
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Respaces a schedule to K steps (docs/science.md §3): keeps guided-diffusion indices
 * τ_k = round(k·(T−1)/(K−1)) (half to even), i.e. our t = τ_k + 1, with
 * β'_k = 1 − ᾱ_{τ_k}/ᾱ_{τ_{k−1}}. The new schedule's t = k + 1 has ᾱ of the parent's τ_k + 1.
 */
export function respace(parent: Schedule, K: number): Schedule {
  checkInt('steps', K, 2, parent.T);
  const betas = new Float64Array(K + 1);
  const originalT = new Int32Array(K + 1);
  let prev = 1;
  for (let k = 0; k < K; k++) {
    const t = roundHalfEven((k * (parent.T - 1)) / (K - 1)) + 1;
    originalT[k + 1] = t;
    betas[k + 1] = 1 - parent.alphaBar[t] / prev;
    prev = parent.alphaBar[t];
  }
  return fromBetas(`${parent.name}-respaced-${K}`, betas, originalT);
}

/** ᾱ at the time fraction t/T ∈ [0, 1], with t rounded to the nearest integer step. */
export function alphaBarAtFraction(schedule: Schedule, fraction: number): number {
  checkNumber('noise', fraction, 0, 1);
  return schedule.alphaBar[Math.round(fraction * schedule.T)];
}
