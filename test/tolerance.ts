/**
 * The tolerances the tests share, each with its reason: float64 and float32 round-off, the
 * statistical bounds (Monte Carlo frequencies, sample means and variances, standard errors, grammar
 * averages), float32 finite differences, Fréchet distances. The theory tests' own (closed forms,
 * the root finder, quoted values, mean field and population dynamics against simulation) are in
 * test/theoryTolerance.ts, and the MNIST networks' float32-against-float64 bound (FLOAT32_NETWORK)
 * sits beside the reference it serves in test/helpers/mnistReference.ts. A bound particular to one
 * assertion is written at that assertion.
 */

/**
 * Exact float64 comparisons (BP vs brute-force enumeration): both sides sum at most a few
 * thousand products of O(1) numbers, so round-off stays near 1e−16 × terms; 1e−12 leaves
 * three orders of margin while still catching any real error (which is O(1e−3) or larger).
 */
export const FLOAT64_EXACT = 1e-12;

/**
 * float32 path vs float64: each level multiplies s messages and sums v·m terms, each step adding
 * about one float32 ulp (2^−24 ≈ 6e−8) relative error; errors grow linearly with depth.
 */
export function float32Tolerance(depth: number): number {
  return 8 * 2 ** -24 * (depth + 1) * 4;
}

/**
 * Monte Carlo frequency of an event of probability p over n independent draws: the standard
 * deviation is sqrt(p(1−p)/n); 5 sigma makes a false failure (~6e−7 per check) negligible with
 * fixed seeds, and 1/n covers p ≈ 0 or 1.
 */
export function monteCarloTolerance(p: number, n: number): number {
  return 5 * Math.sqrt((p * (1 - p)) / n) + 1 / n;
}

/** A statistical estimate with standard error `se`: 5 standard errors (see monteCarloTolerance). */
export function standardErrorTolerance(se: number): number {
  return 5 * se;
}

/** The mean of n independent draws of this variance: 5 standard errors, 5·√(variance/n). */
export function meanTolerance(variance: number, n: number): number {
  return standardErrorTolerance(Math.sqrt(variance / n));
}

/** The sample variance S² of n Gaussian draws of this variance σ²: 5 standard errors, Var(S²) = 2σ⁴/(n − 1). */
export function varianceTolerance(variance: number, n: number): number {
  return standardErrorTolerance(variance * Math.sqrt(2 / (n - 1)));
}

/**
 * A forward–backward estimate over G grammar seeds against a docs/science.md §4 reference value,
 * itself a mean over 6 other grammar seeds: 5 standard errors of the estimate, plus 3 standard
 * errors of the grammar average (the spread of the per-grammar means, `grammarSD`, over √G),
 * since near the transition a single grammar moves P_0 by ±0.04, plus 0.01 for the reference's
 * own standard error (≤ 0.005 where the tests compare, docs/science.md §4): two of them.
 */
export function grammarAverageTolerance(se: number, grammarSD: number, grammars: number): number {
  return standardErrorTolerance(se) + (3 * grammarSD) / Math.sqrt(grammars) + 0.01;
}

/**
 * A float32 gradient (onnxruntime) against a float32 central difference with h = 1e−2 along a
 * random direction: the difference quotient's truncation error is O(h²·|f‴|) ≈ 1e−4 for the O(1)
 * functions tested, and float32 rounding of the two losses adds O(2^−24·|L|·√n/h) ≈ 1e−4;
 * 5e−3 (relative, or absolute below 1) leaves a margin of 10–50 while a wrong rule is off by O(1).
 */
export const FINITE_DIFFERENCE_F32 = 5e-3;

/**
 * A float64 Fréchet distance (src/images/frechet.ts) against a closed form, or against 0 for two
 * identical fits: the result is a difference of traces of size ~tr Σ, each eigenvalue from Jacobi
 * rotations and matrix products of d × d matrices, each of which adds O(d·ε) relative error, so
 * d²·ε·tr Σ bounds it for well-conditioned covariances; 100× that leaves a margin (measured: 1e−11
 * for the held-out digits' 64-dim features, tr Σ = 37, where the bound is 3.4e−9), while a wrong
 * formula is off by O(tr Σ).
 */
export function frechetTolerance(dim: number, trace: number): number {
  return 100 * dim * dim * Number.EPSILON * Math.max(trace, 1);
}
