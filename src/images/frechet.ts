import { checkInt, ParamError } from '../core/errors.ts';

/**
 * The Fréchet distance between Gaussian fits of two feature sets (the quantity behind FID,
 * Heusel et al. 2017), in float64:
 *
 *   FD = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}),
 *
 * the squared 2-Wasserstein distance between N(μ₁, Σ₁) and N(μ₂, Σ₂). Both square roots are of
 * symmetric positive semi-definite matrices, so one symmetric eigen-decomposition each gives them
 * exactly (eigenvalues clipped at 0 against round-off), and the trace of the outer root is the sum
 * of the square roots of the eigenvalues of the symmetric M = Σ₁^{1/2} Σ₂ Σ₁^{1/2}.
 *
 * The eigen-decomposition is our own cyclic Jacobi solver ({@link symmetricEigen}): the matrices
 * are small (64 × 64 for the shipped classifier's features), Jacobi is the most accurate method for
 * symmetric matrices (small relative error even for tiny eigenvalues), it is 50 lines of plain
 * float64 arithmetic with no dependency (it also runs in the browser build), and it is tested
 * against closed forms (test/images-score.test.ts).
 */

/** A Gaussian fit of `count` d-dimensional vectors: mean (d) and covariance (d × d, row-major, 1/(n − 1)). */
export interface GaussianFit {
  dim: number;
  count: number;
  mean: Float64Array;
  cov: Float64Array;
}

/**
 * Mean and unbiased covariance (divisor n − 1, as numpy's `np.cov` that FID uses) of n vectors of
 * dimension `dim`, given row-major as n × dim. Needs n ≥ 2.
 */
export function gaussianFit(features: ArrayLike<number>, dim: number): GaussianFit {
  checkInt('dim', dim, 1);
  const n = features.length / dim;
  if (!Number.isInteger(n) || n < 2) throw new ParamError('features', `invalid features (${features.length} values: expected n × ${dim} with n ≥ 2)`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let a = 0; a < dim; a++) mean[a] += features[i * dim + a];
  for (let a = 0; a < dim; a++) mean[a] /= n;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < dim; a++) centred[a] = features[i * dim + a] - mean[a];
    for (let a = 0; a < dim; a++) {
      const ca = centred[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += ca * centred[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      cov[a * dim + b] /= n - 1;
      cov[b * dim + a] = cov[a * dim + b];
    }
  }
  return { dim, count: n, mean, cov };
}

/** The Fréchet distance between two Gaussians of the same dimension (formula above); ≥ 0. */
export function frechetDistance(p: GaussianFit, q: GaussianFit): number {
  if (p.dim !== q.dim) throw new ParamError('features', `invalid features (dimensions ${p.dim} and ${q.dim} differ)`);
  const d = p.dim;
  let meanTerm = 0;
  for (let a = 0; a < d; a++) meanTerm += (p.mean[a] - q.mean[a]) ** 2;
  let traces = 0;
  for (let a = 0; a < d; a++) traces += p.cov[a * d + a] + q.cov[a * d + a];
  const root = symmetricSqrt(p.cov, d);
  const m = symmetrize(multiply(multiply(root, q.cov, d), root, d), d);
  let traceRoot = 0;
  for (const lambda of symmetricEigen(m, d).values) traceRoot += Math.sqrt(Math.max(lambda, 0));
  // Round-off can leave a tiny negative number for two identical fits; the distance is ≥ 0.
  return Math.max(meanTerm + traces - 2 * traceRoot, 0);
}

/** The PSD square root V diag(√max(λ, 0)) Vᵀ of a symmetric d × d matrix (row-major). */
export function symmetricSqrt(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) {
      const vi = vectors[i * d + k] * s;
      for (let j = 0; j < d; j++) out[i * d + j] += vi * vectors[j * d + k];
    }
  }
  return symmetrize(out, d);
}

/**
 * Eigenvalues and eigenvectors of a symmetric d × d matrix (row-major; only its symmetric part is
 * used) by the cyclic Jacobi method: sweeps of plane rotations, each zeroing one off-diagonal
 * entry, until the off-diagonal mass is below 1e−30 of the total (or 100 sweeps; Jacobi converges
 * quadratically, in ≈ 10 sweeps for d = 64). Returns the values (unsorted) and the eigenvectors as
 * the columns of a d × d row-major matrix: A = V diag(values) Vᵀ.
 */
export function symmetricEigen(matrix: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = symmetrize(Float64Array.from(matrix), d);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  let total = 0;
  for (let i = 0; i < d * d; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) off += 2 * a[i * d + j] ** 2;
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (apq === 0) continue;
        // Rotation angle of the classic Jacobi step (Golub & Van Loan, Alg. 8.5.1), the smaller root.
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

function multiply(x: Float64Array, y: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const xik = x[i * d + k];
      if (xik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += xik * y[k * d + j];
    }
  }
  return out;
}

/** (A + Aᵀ)/2 in place. */
function symmetrize(a: Float64Array, d: number): Float64Array {
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const m = (a[i * d + j] + a[j * d + i]) / 2;
      a[i * d + j] = m;
      a[j * d + i] = m;
    }
  }
  return a;
}
