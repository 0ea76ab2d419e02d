import type { Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { TreeBatch } from '../grammar/generate.ts';

/** A float buffer: float64 for the reference, float32 allowed for fast paths. */
export type FloatArray = Float64Array | Float32Array;

/**
 * Normalised upward messages ν↑ (docs/science.md §2) for a batch. `messages[ℓ]` has length count·s^ℓ·N_ℓ,
 * datum-major then node then symbol: datum n, node i, symbol a at `[(n·s^ℓ + i)·N_ℓ + a]`
 * (N_0 = n_c, else v). `logEvidence[n]` = log p(observation of datum n) = log Σ_trees P(tree)·Π_i λ_i(x_i)
 * for the likelihoods exactly as given.
 */
export interface UpwardMessages {
  readonly count: number;
  readonly messages: readonly FloatArray[];
  readonly logEvidence: Float64Array;
}

/**
 * Posterior marginals μ_ℓ(i, a) = p(z_ℓ,i = a | observation) at every level, same layout as
 * {@link UpwardMessages.messages}. `marginals[L]` is the exact denoiser E[x_0 | x_t] for one-hot
 * tokens; `marginals[0]` is the class posterior.
 */
export type Marginals = readonly FloatArray[];

/**
 * One implementation of exact BP. The reference (float64, readable) and the fast kernels share
 * this interface and one test suite. Leaf likelihoods `lambda` are count·d·v floats, token-major.
 */
export interface BpBackend {
  readonly name: string;
  /** Upward sweep (docs/science.md §2). Throws InconsistentEvidenceError when some node has zero weight. */
  upward(g: Grammar, lambda: FloatArray, count: number): UpwardMessages;
  /** Downward sweep and marginals at every level (docs/science.md §2). */
  marginals(g: Grammar, up: UpwardMessages): Marginals;
  /**
   * Exact posterior samples (docs/science.md §2): `trajectories` independent trees per datum; trajectory t of
   * datum n is batch entry n·trajectories + t.
   */
  sample(g: Grammar, up: UpwardMessages, rng: Rng, trajectories: number): TreeBatch;
}
