import type { ProcessName } from '../noise/process.ts';
import type { Moments } from './moments.ts';

/**
 * Raw statistics of one forward–backward cell: one grammar (seed), one depth, one process, one
 * noise level. Plain numbers only, so cells can be written as JSON lines, merged and summarised.
 * Every Moments is over data (one value per datum).
 */
export interface CellStats {
  grammarSeed: number;
  depth: number;
  process: ProcessName;
  /** The noise level as given: ε for eps/uniform/mask, t/T for gaussian. */
  noise: number;
  /** The process's control parameter: ε, or ᾱ for gaussian. */
  control: number;
  samples: number;
  trajectories: number;
  /** μ_0(c_true) per datum: the Rao–Blackwellised class-kept estimator. */
  classMarginal: Moments;
  /** Fraction of the datum's trajectories whose class equals the true class. */
  classSampled: Moments;
  /** Per level ℓ = 0..L: mean over nodes of μ_ℓ(i, z_true) (empty when marginals were skipped). */
  levelMarginal: Moments[];
  /** Per level ℓ = 0..L: mean over nodes and trajectories of 1[ẑ = z_true]. */
  levelSampled: Moments[];
  /** Σ over data of Σ_ij C_ij and of Σ_i C_ii (docs/science.md §4); χ = ratio. Zero with one trajectory. */
  chiNumerator: number;
  chiDenominator: number;
  /** Σ over data of the mean of C_ij over pairs at token distance r = |i − j| (r = 0..d−1), when asked. */
  correlationByDistance?: number[];
  /** Σ over data of the mean of C_ij over pairs whose lowest common ancestor is ℓ̃ levels up (ℓ̃ = 0..L), when asked. */
  correlationByTreeDistance?: number[];
}

/** The fields that set a cell's conditions besides its grammar, in the order results list them (CSV columns, stats lines). */
export const CELL_CONDITION_FIELDS = ['depth', 'process', 'noise', 'control', 'samples', 'trajectories'] as const satisfies readonly (keyof CellStats)[];
