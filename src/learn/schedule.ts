import { checkInt, checkNumber, ParamError } from '../core/errors.ts';

/**
 * The training schedule of the published RHM diffusion code (docs/science.md §7), in its own
 * indexing: β_u = β₁ + (β₂ − β₁)·u/T for u = 0 … T, α_u = 1 − β_u, ᾱ_t = Π_{u=0..t} α_u. Index 0
 * is a real step (ᾱ_0 = 1 − β₁, not 1); training uses t = 1 … T and the posterior at t reads
 * α_t and ᾱ_{t−1}. All values float64.
 */
export interface DiscreteSchedule {
  /** T: the largest time index. */
  readonly steps: number;
  /** β₁: β_0. */
  readonly betaStart: number;
  /** β₂: β_T. */
  readonly betaEnd: number;
  /** α_u = 1 − β_u, u = 0 … T (length T + 1). */
  readonly alpha: Float64Array;
  /** ᾱ_t = Π_{u=0..t} α_u, t = 0 … T (length T + 1). */
  readonly alphaBar: Float64Array;
}

/** Options of {@link discreteSchedule}; the defaults are the published ones. */
export interface DiscreteScheduleOptions {
  /** T (default 200). */
  steps?: number;
  /** β₁ (default 1e−3). */
  betaStart?: number;
  /** β₂ (default 0.1). */
  betaEnd?: number;
}

/**
 * Builds the linear-β schedule of docs/science.md §7: returns T, α_u and ᾱ_t for u, t = 0 … T
 * (float64 arrays of length T + 1). Throws a ParamError for T outside 1 … 10⁶ or β outside (0, 1).
 */
export function discreteSchedule(options: DiscreteScheduleOptions = {}): DiscreteSchedule {
  const steps = checkInt('steps', options.steps ?? 200, 1, 1_000_000);
  const betaStart = options.betaStart ?? 1e-3;
  const betaEnd = options.betaEnd ?? 0.1;
  checkNumber('betaStart', betaStart, 0, 1);
  checkNumber('betaEnd', betaEnd, 0, 1);
  // β = 0 would make a step the identity and β = 1 erase everything at once; both break the
  // posterior's divisions by 1 − ᾱ_t.
  if (betaStart <= 0 || betaStart >= 1) throw new ParamError('betaStart', `invalid betaStart ${betaStart} (expected a number in (0, 1))`);
  if (betaEnd <= 0 || betaEnd >= 1) throw new ParamError('betaEnd', `invalid betaEnd ${betaEnd} (expected a number in (0, 1))`);
  const alpha = new Float64Array(steps + 1);
  const alphaBar = new Float64Array(steps + 1);
  let acc = 1;
  for (let u = 0; u <= steps; u++) {
    alpha[u] = 1 - (betaStart + ((betaEnd - betaStart) * u) / steps);
    alphaBar[u] = acc *= alpha[u];
  }
  return { steps, betaStart, betaEnd, alpha, alphaBar };
}
