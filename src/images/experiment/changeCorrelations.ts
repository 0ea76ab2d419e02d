/**
 * Correlated changes of an image over K round trips (docs/science.md §4 and §6, the follow-up's
 * observable): each trajectory gives a change magnitude per patch, m_i = mean of |x_gen − x_orig|
 * over the patch's pixels and channels; C_ij = ⟨m_i m_j⟩ − ⟨m_i⟩⟨m_j⟩ over the K trajectories
 * (population covariance, as the token observable), χ = Σ_ij C_ij / Σ_i C_ii and C(r) = mean of C_ij
 * over patch pairs r apart along a row or a column.
 */
export interface ChangeCorrelations {
  /** Σ_ij C_ij = variance over trajectories of Σ_i m_i. */
  chiNumerator: number;
  /** Σ_i C_ii. */
  chiDenominator: number;
  /** C(r) for r = 0 … R (r = 0: mean of C_ii), R = half the patch grid's shorter side. */
  correlation: number[];
}

/** Mean |x_gen − x_orig| over pixels and channels (images in [−1, 1]). */
export function pixelChange(original: Float32Array, generated: Float32Array): number {
  let s = 0;
  for (let i = 0; i < original.length; i++) s += Math.abs(generated[i] - original[i]);
  return s / original.length;
}

/** Change magnitude per patch of one trajectory: (H/patch)·(W/patch) values, row-major (a partial last patch counts with its own size). */
export function patchChanges(original: Float32Array, generated: Float32Array, channels: number, height: number, width: number, patch: number): Float64Array {
  const gh = Math.ceil(height / patch);
  const gw = Math.ceil(width / patch);
  const sums = new Float64Array(gh * gw);
  const counts = new Float64Array(gh * gw);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const row = Math.floor(y / patch) * gw;
      for (let x = 0; x < width; x++) {
        const i = (c * height + y) * width + x;
        const cell = row + Math.floor(x / patch);
        sums[cell] += Math.abs(generated[i] - original[i]);
        counts[cell]++;
      }
    }
  }
  for (let i = 0; i < sums.length; i++) sums[i] /= counts[i];
  return sums;
}

/** {@link ChangeCorrelations} of K ≥ 2 trajectories' patch changes on a gh × gw grid. */
export function changeCorrelations(changes: readonly Float64Array[], gh: number, gw: number): ChangeCorrelations {
  const K = changes.length;
  const n = gh * gw;
  const mean = new Float64Array(n);
  for (const m of changes) for (let i = 0; i < n; i++) mean[i] += m[i] / K;
  // Centred magnitudes: C_ij = (1/K) Σ_t d_ti d_tj.
  const centred = changes.map((m) => m.map((v, i) => v - mean[i]));
  let diag = 0;
  let total = 0;
  for (const d of centred) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      diag += (d[i] * d[i]) / K;
      s += d[i];
    }
    total += (s * s) / K;
  }
  const R = Math.floor(Math.min(gh, gw) / 2);
  const correlation = new Array<number>(R + 1).fill(0);
  correlation[0] = diag / n;
  for (let r = 1; r <= R; r++) {
    let s = 0;
    for (const d of centred) {
      for (let y = 0; y < gh; y++) {
        for (let x = 0; x < gw; x++) {
          const v = d[y * gw + x];
          if (x + r < gw) s += v * d[y * gw + x + r];
          if (y + r < gh) s += v * d[(y + r) * gw + x];
        }
      }
    }
    const pairs = gh * (gw - r) + (gh - r) * gw;
    correlation[r] = s / K / pairs;
  }
  return { chiNumerator: total, chiDenominator: diag, correlation };
}
