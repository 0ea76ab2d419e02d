import type { LearnedForwardBackwardRow } from './forwardBackward.ts';
import type { DiscreteSchedule } from './schedule.ts';

/** The noise levels 1 − ᾱ_t a study compares at: dense at low noise, where the low levels change first. */
export const STUDY_NOISE_LEVELS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] as const;

/**
 * The times of a study's forward–backward comparison: for each of {@link STUDY_NOISE_LEVELS}, the
 * t ∈ 1 … T whose noise 1 − ᾱ_t is nearest (sorted, without repeats).
 */
export function studyTimes(schedule: DiscreteSchedule): number[] {
  const T = schedule.steps;
  const times = STUDY_NOISE_LEVELS.map((level) => {
    let best = 1;
    for (let t = 2; t <= T; t++) if (Math.abs(1 - schedule.alphaBar[t] - level) < Math.abs(1 - schedule.alphaBar[best] - level)) best = t;
    return best;
  });
  return [...new Set(times)].sort((a, b) => a - b);
}

/** One trained size of a study, as the summary reads it. */
export interface StudySizePoint {
  trainSize: number;
  /** Fractions of valid nodes for layers 1 … L (layer 1 = the lowest rules). */
  validByLayer: number[];
  forwardBackward: LearnedForwardBackwardRow[] | null;
}

/** Where one layer's validity crosses a threshold as the training set grows. */
export interface LayerCrossing {
  /** Layer 1 … L (1 = the lowest rules, L = the root's). */
  layer: number;
  /**
   * The interpolated training-set size (linear in log P between the two sizes around the crossing)
   * from which the layer's validity stays at or above the threshold at every larger size measured;
   * null when it does not (`reached` says whether it ever did).
   */
  size: number | null;
  /** The smallest measured size with validity ≥ threshold from there on (null: none). */
  firstSizeAbove: number | null;
  reached: boolean;
}

/**
 * Per layer, the training-set size at which its validity crosses `threshold` for good. Below the
 * smallest size measured nothing is known: a layer valid already there gets size = that size.
 */
export function layerCrossings(points: readonly StudySizePoint[], threshold = 0.9): LayerCrossing[] {
  const sorted = [...points].sort((a, b) => a.trainSize - b.trainSize);
  if (sorted.length === 0) return [];
  const L = sorted[0].validByLayer.length;
  return Array.from({ length: L }, (_, j) => {
    const values = sorted.map((p) => p.validByLayer[j]);
    // The first index from which every value is ≥ threshold.
    let first = values.length;
    while (first > 0 && values[first - 1] >= threshold) first--;
    const reached = values.some((x) => x >= threshold);
    if (first === values.length) return { layer: j + 1, size: null, firstSizeAbove: null, reached };
    const above = sorted[first].trainSize;
    if (first === 0) return { layer: j + 1, size: above, firstSizeAbove: above, reached };
    const below = sorted[first - 1].trainSize;
    const [a, b] = [values[first - 1], values[first]];
    const f = (threshold - a) / (b - a);
    const size = Math.exp(Math.log(below) + f * (Math.log(above) - Math.log(below)));
    return { layer: j + 1, size, firstSizeAbove: above, reached };
  });
}

/** How far a trained model's class-kept curve is from exact BP's on the same x_t. */
export interface ClassKeptGap {
  trainSize: number;
  /** max over the times of |model − BP|, and the time where it is largest. */
  maxGap: number;
  atNoise: number;
  /** The same gap in units of its standard error there (√(SE_model² + SE_BP²)). */
  zAtMax: number;
}

/** The class-kept gap of every size with a forward–backward comparison, in size order. */
export function classKeptGaps(points: readonly StudySizePoint[]): ClassKeptGap[] {
  return [...points]
    .sort((a, b) => a.trainSize - b.trainSize)
    .filter((p) => p.forwardBackward !== null && p.forwardBackward.length > 0)
    .map((p) => {
      let best = { maxGap: -1, atNoise: 0, zAtMax: 0 };
      for (const r of p.forwardBackward!) {
        const gap = Math.abs(r.model.classKept - r.bp.classKept);
        if (gap > best.maxGap) {
          const se = Math.hypot(r.model.classKeptSE, r.bp.classKeptSE);
          best = { maxGap: gap, atNoise: r.noise, zAtMax: se > 0 ? gap / se : gap > 0 ? Infinity : 0 };
        }
      }
      return { trainSize: p.trainSize, ...best };
    });
}

/**
 * Training to convergence: the steps to continue a finished run of `ran` steps to, or null when it
 * needs no more — it ran the `steps` asked and either converged (`converged` not false; null, no
 * verdict, counts as done) or reached `maxSteps`. A run short of `steps` goes on to `steps`; a
 * run not converged goes on to twice its steps, at most `maxSteps`.
 */
export function continueTo(ran: number, converged: boolean | null, steps: number, maxSteps: number): number | null {
  if (ran < steps) return steps;
  if (ran >= maxSteps || converged !== false) return null;
  return Math.min(maxSteps, 2 * ran);
}
