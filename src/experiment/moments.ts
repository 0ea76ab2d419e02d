/** Running sums of a per-datum quantity: enough for a mean and its standard error. */
export interface Moments {
  count: number;
  sum: number;
  sumSq: number;
}

export function emptyMoments(): Moments {
  return { count: 0, sum: 0, sumSq: 0 };
}

export function addSample(m: Moments, x: number): void {
  m.count += 1;
  m.sum += x;
  m.sumSq += x * x;
}

export function mergeMoments(parts: readonly Moments[]): Moments {
  const out = emptyMoments();
  for (const p of parts) {
    out.count += p.count;
    out.sum += p.sum;
    out.sumSq += p.sumSq;
  }
  return out;
}

export function mean(m: Moments): number {
  return m.count > 0 ? m.sum / m.count : NaN;
}

/**
 * Standard error of the mean, sqrt(sample variance / count); null for fewer than two samples (not
 * estimable: one value has no spread to measure, which is not a spread of 0).
 */
export function standardError(m: Moments): number | null {
  if (m.count < 2) return null;
  const mu = m.sum / m.count;
  const variance = Math.max(0, (m.sumSq - m.count * mu * mu) / (m.count - 1));
  return Math.sqrt(variance / m.count);
}
