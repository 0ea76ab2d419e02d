/**
 * The annealed mean-field map of docs/science.md §5: a node's upward message is summarised by p, its mass on
 * the true symbol (the rest spread evenly), averaged over random rules. One level up,
 * `p_{ℓ−1} = F(p_ℓ)`, `F(p) = [p^s + g(1 − p^s)] / [p^s + f′(1 − p^s)]`,
 * `f′ = (m·v − 1)/(v^s − 1)`, `g = (m − 1)/(v^s − 1)`; leaves `p_L = 1 − ε + ε/v`.
 */
import { checkInt, checkNumber } from '../core/errors.ts';
import { validateParams } from '../grammar/params.ts';

/** Grammar sizes the map depends on. `classes` (n_c, default v) only changes the last step, to the root. */
export interface MeanFieldParams {
  vocab: number;
  synonyms: number;
  tuple: number;
  classes?: number;
}

/**
 * Validates (v, m, s[, n_c]) with the grammar's own rules (docs/science.md §1): s ≥ 2, v ≥ 2,
 * 1 ≤ m ≤ v^(s−1), n_c·m ≤ v^s. Throws a ParamError naming the parameter.
 */
export function validateMeanFieldParams(p: MeanFieldParams): Required<MeanFieldParams> {
  const g = validateParams({ vocab: p.vocab, synonyms: p.synonyms, tuple: p.tuple, depth: 1, ...(p.classes === undefined ? {} : { classes: p.classes }) });
  return { vocab: g.vocab, synonyms: g.synonyms, tuple: g.tuple, classes: g.classes };
}

/** f′ and g of docs/science.md §5 for a level whose parents number `parents` (v, or n_c at the root). */
function coefficients(p: MeanFieldParams, parents: number): { fPrime: number; g: number } {
  const tuples = p.vocab ** p.tuple - 1;
  return { fPrime: (p.synonyms * parents - 1) / tuples, g: (p.synonyms - 1) / tuples };
}

function mapWith(fPrime: number, g: number, s: number, x: number): number {
  const q = x ** s;
  // docs/science.md §5: the true tuple weighs q, each of the v^s − 1 others (1 − q)/(v^s − 1) on average.
  return (q + g * (1 - q)) / (q + fPrime * (1 - q));
}

/**
 * The mean-field map F(p) of docs/science.md §5 for a bulk level (v parents): the mean mass a parent's
 * message puts on its true symbol when each child's message puts mass p on its true symbol.
 * Valid for p ∈ [0, 1]; F(1/v) = 1/v and F(1) = 1.
 */
export function meanFieldMap(p: MeanFieldParams, x: number): number {
  const { fPrime, g } = coefficients(p, p.vocab);
  return mapWith(fPrime, g, p.tuple, x);
}

/** The map of the last step, into the root (n_c parents): F_root(1/v) = 1/n_c. */
export function meanFieldRootMap(p: MeanFieldParams, x: number): number {
  const { fPrime, g } = coefficients(p, p.classes ?? p.vocab);
  return mapWith(fPrime, g, p.tuple, x);
}

/**
 * F′(p) = (f′ − g)·s·p^(s−1) / [p^s + f′(1 − p^s)]² (docs/science.md §5). At p = 1 it is
 * s·m(v − 1)/(v^s − 1), the reconstruction condition F′(1) < 1.
 */
export function meanFieldDerivative(p: MeanFieldParams, x: number): number {
  const { fPrime, g } = coefficients(p, p.vocab);
  const s = p.tuple;
  const q = x ** s;
  const den = q + fPrime * (1 - q);
  return ((fPrime - g) * s * x ** (s - 1)) / (den * den);
}

/** Where the map's phase transition is (docs/science.md §5). */
export interface CriticalPoint {
  /** True iff 1 is stable (F′(1) < 1) and an unstable fixed point p* lies in (1/v, 1). */
  transitionExists: boolean;
  /** All fixed points in [1/v, 1], ascending: 1/v, interior ones, 1. */
  fixedPoints: number[];
  /** The unstable fixed point separating the basins of 1 and 1/v, or null. */
  pStar: number | null;
  /** ε* = (1 − p*)/(1 − 1/v): the ε-process noise whose leaf belief is p*, or null. */
  criticalNoise: number | null;
  /** λ = F′(p*), the growth of |p − p*| per level, or null. */
  lambda: number | null;
  /** ν = ln s / ln λ, the correlation-length exponent, or null. */
  nu: number | null;
}

/** Tolerance of the bracketed root finder for s > 2 (bisection down to this interval width). */
export const ROOT_TOLERANCE = 1e-12;

/**
 * Interior roots of F(p) − p in (1/v, 1). F(p) = p ⇔ P(p) = 0 with
 * P(p) = g − f′p + (1 − g)p^s − (1 − f′)p^(s+1), which always vanishes at 1/v and 1; we divide
 * those two roots out (synthetic division, so a root near an end is not lost) and bracket the
 * sign changes of the quotient on a fine grid, then bisect each to {@link ROOT_TOLERANCE}.
 */
export function interiorFixedPoints(p: MeanFieldParams): number[] {
  const { fPrime, g } = coefficients(p, p.vocab);
  const s = p.tuple;
  // Coefficients from the highest power p^(s+1) down to p^0.
  const coef = new Array<number>(s + 2).fill(0);
  coef[0] = -(1 - fPrime);
  coef[1] = 1 - g;
  coef[s] = -fPrime;
  coef[s + 1] = g;
  const divide = (c: number[], root: number): number[] => {
    const out = [c[0]];
    for (let i = 1; i < c.length - 1; i++) out.push(c[i] + root * out[i - 1]);
    return out; // the remainder c[last] + root·out[last] is ≈ 0 by construction
  };
  const quotient = divide(divide(coef, 1), 1 / p.vocab);
  const q = (x: number) => quotient.reduce((acc, c) => acc * x + c, 0);
  const lo = 1 / p.vocab;
  const steps = 4096;
  const roots: number[] = [];
  let xPrev = lo;
  let fPrev = q(xPrev);
  for (let i = 1; i <= steps; i++) {
    const x = lo + ((1 - lo) * i) / steps;
    const fx = q(x);
    if (fPrev === 0 && i > 1) roots.push(xPrev);
    else if (fPrev * fx < 0) {
      let a = xPrev;
      let b = x;
      let fa = fPrev;
      while (b - a > ROOT_TOLERANCE) {
        const mid = 0.5 * (a + b);
        const fm = q(mid);
        if (fm === 0) {
          a = b = mid;
          break;
        }
        if (fa * fm < 0) b = mid;
        else {
          a = mid;
          fa = fm;
        }
      }
      roots.push(0.5 * (a + b));
    }
    xPrev = x;
    fPrev = fx;
  }
  return roots.filter((r) => r > lo && r < 1);
}

/**
 * Fixed points, p*, ε*, λ and ν of the mean-field map (docs/science.md §5). For s = 2 the closed forms
 * p* = (m − 1)/(v − m) and ε* = (1 − p*)/(1 − 1/v); for s > 2 a bracketed root finder accurate
 * to 1e−12. p* is the largest interior fixed point when 1 is stable: above it F^ℓ → 1, below it
 * the flow leaves towards 1/v (or a lower stable point).
 */
export function criticalPoint(p: MeanFieldParams): CriticalPoint {
  const q = validateMeanFieldParams(p);
  const { vocab: v, synonyms: m, tuple: s } = q;
  let interior: number[];
  if (s === 2) {
    // docs/science.md §5: the cubic's third root, from the product of its roots.
    const root = v > m ? (m - 1) / (v - m) : Infinity;
    interior = root > 1 / v && root < 1 ? [root] : [];
  } else {
    interior = interiorFixedPoints(q);
  }
  const fixedPoints = [1 / v, ...interior, 1];
  const oneStable = meanFieldDerivative(q, 1) < 1;
  const pStar = oneStable && interior.length > 0 ? interior[interior.length - 1] : null;
  if (pStar === null) return { transitionExists: false, fixedPoints, pStar: null, criticalNoise: null, lambda: null, nu: null };
  const lambda = meanFieldDerivative(q, pStar);
  return {
    transitionExists: true,
    fixedPoints,
    pStar,
    criticalNoise: (1 - pStar) / (1 - 1 / v),
    lambda,
    nu: Math.log(s) / Math.log(lambda),
  };
}

/** Leaf belief of the ε-process (docs/science.md §5): p_L = 1 − ε + ε/v. */
export function leafBelief(p: MeanFieldParams, eps: number): number {
  checkNumber('noise', eps, 0, 1);
  return 1 - eps + eps / p.vocab;
}

/**
 * Level profile of the map (docs/science.md §5, upward-only approximation): P_ℓ = F^(L−ℓ)(p_L) for
 * ℓ = 0..L, index 0 = root, index L = the leaf belief itself. The last step into the root uses
 * n_c parents ({@link meanFieldRootMap}); with n_c = v it is F.
 */
export function predictLevels(p: MeanFieldParams, leafBeliefValue: number, depth: number): number[] {
  validateMeanFieldParams(p);
  checkInt('depth', depth, 1, 1e6);
  checkNumber('leafBelief', leafBeliefValue, 0, 1);
  const out = new Array<number>(depth + 1);
  out[depth] = leafBeliefValue;
  for (let level = depth - 1; level >= 0; level--) {
    out[level] = level === 0 ? meanFieldRootMap(p, out[1]) : meanFieldMap(p, out[level + 1]);
  }
  return out;
}

/** Predicted class kept for the ε-process: P_0 ≈ F^L(1 − ε + ε/v) (docs/science.md §5). */
export function predictClassKept(p: MeanFieldParams, eps: number, depth: number): number {
  return predictLevels(p, leafBelief(p, eps), depth)[0];
}
