import { checkNumber, InconsistentEvidenceError, ParamError } from '../core/errors.ts';
import { referenceBackend } from '../bp/reference.ts';
import type { Marginals } from '../bp/types.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount } from '../grammar/params.ts';
import type { LogitsModel } from './logitsModel.ts';
import type { DiscreteSchedule } from './schedule.ts';

/** Added to μ before the log, so that impossible symbols get a finite (very negative) logit. */
const LOG_FLOOR = 1e-30;

/**
 * Weight of uniform evidence mixed into hard (mask) evidence that no tree explains. Small enough
 * that the posterior concentrates on the trees that disagree with the fewest visible tokens.
 */
const INCONSISTENT_FLOOR = 1e-9;

/** What {@link BpOracleModel} returns as x̂_0 (see there). */
export type OracleTarget = 'posterior' | 'reverse';

/**
 * The exact denoiser of a grammar as a {@link LogitsModel}, from exact BP (docs/science.md §2,
 * float64 reference engine). The leaf likelihoods are those of the model's process with the
 * discrete schedule (docs/science.md §7) at t = round(tOverT·T): uniform λ(b) = ᾱ_t·x(b) +
 * (1 − ᾱ_t)/v, mask λ(b) = x(b) + (1 − Σ_b' x(b'))/v (visible: one-hot, masked: flat). What it
 * returns depends on `target`:
 * - `'posterior'`: log(μ_L + 1e−30), with μ_L = E[x_0 | x_t] the exact leaf marginals.
 * - `'reverse'`: the x̂_0 that a network trained with the published loss converges to, and the
 *   one with which the published sampler is exact token by token. That sampler weighs x̂_0 inside
 *   q(x_t | x_{t−1})·q(x_{t−1} | x̂_0), i.e. by Σ_a x̂_0(a)·q(x_t | a)·q(x_{t−1} | x_t, a), so the
 *   exact reverse marginal Σ_a μ(a)·q(x_{t−1} | x_t, a) needs x̂_0(a) ∝ μ(a)/q(x_t | a) = μ(a)/λ(a):
 *   the BP downward (cavity) message at the leaf. Logits log(μ + 1e−30) − log λ. Fed μ itself the
 *   sampler keeps x_t's token far too often (by a factor ≈ ᾱ_t·v/(1 − ᾱ_t) at small t) and its
 *   samples are mostly invalid. For mask the two coincide where it matters: a masked token has
 *   flat λ, and the sampler never reads x̂_0 at a visible one.
 *
 * Mask evidence can be inconsistent with the grammar (the factorised reverse process may reveal
 * two tokens that no tree joins); E[x_0 | x_t] is then undefined. Such a datum is recomputed with
 * λ mixed with 1e−9 of uniform evidence — the trees closest to the visible tokens — and counted in
 * {@link BpOracleModel.inconsistent}.
 */
export class BpOracleModel implements LogitsModel {
  /** Vocabulary v. */
  readonly vocab: number;
  /** Sequence length d = s^L. */
  readonly length: number;
  /** Number of data whose evidence no tree explained, over every call so far (mask only). */
  inconsistent = 0;

  /**
   * @param grammar the grammar whose data the oracle denoises.
   * @param process the noise process x_t comes from.
   * @param schedule the discrete schedule (ᾱ_t for the uniform likelihood and to read t from t/T).
   * @param target `'posterior'` (E[x_0 | x_t]) or `'reverse'` (what the published loss trains and
   *   the sampler needs); see the class. Deliberately without a default: the two differ a lot.
   */
  constructor(
    readonly grammar: Grammar,
    readonly process: 'uniform' | 'mask',
    readonly schedule: DiscreteSchedule,
    readonly target: OracleTarget,
  ) {
    if (process !== 'uniform' && process !== 'mask') throw new ParamError('process', `invalid process "${String(process)}" (expected uniform or mask)`);
    if (target !== 'posterior' && target !== 'reverse') throw new ParamError('target', `invalid target "${String(target)}" (expected posterior or reverse)`);
    this.vocab = grammar.vocab;
    this.length = leafCount(grammar);
  }

  /** Exact log-marginals for N inputs (layout of {@link LogitsModel.logits}). */
  async logits(x: Float32Array, tOverT: Float32Array, n: number): Promise<Float32Array> {
    const { vocab: v, length: d } = this;
    const T = this.schedule.steps;
    if (x.length !== n * v * d || tOverT.length < n) throw new RangeError(`expected ${n}×${v}×${d} inputs and ${n} times`);
    const lambda = new Float64Array(n * d * v);
    for (let k = 0; k < n; k++) {
      checkNumber('tOverT', tOverT[k], 0, 1);
      const ab = this.schedule.alphaBar[Math.round(tOverT[k] * T)];
      for (let i = 0; i < d; i++) {
        let mass = 0;
        for (let b = 0; b < v; b++) mass += x[(k * v + b) * d + i];
        for (let b = 0; b < v; b++) {
          const xb = x[(k * v + b) * d + i];
          // λ is token-major for BP; x is channel-major per datum.
          lambda[(k * d + i) * v + b] = this.process === 'uniform' ? ab * xb + (1 - ab) / v : xb + (1 - mass) / v;
        }
      }
    }
    const mu = this.leafMarginals(lambda, n);
    const out = new Float32Array(n * v * d);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < d; i++) {
        for (let b = 0; b < v; b++) {
          const o = (k * d + i) * v + b;
          let logit = Math.log(mu[k][i * v + b] + LOG_FLOOR);
          if (this.target === 'reverse' && this.process === 'uniform') logit -= Math.log(lambda[o]);
          out[(k * v + b) * d + i] = logit;
        }
      }
    }
    return out;
  }

  /** μ_L per datum (d·v, token-major); the whole batch at once unless some datum is inconsistent. */
  private leafMarginals(lambda: Float64Array, n: number): Float64Array[] {
    const g = this.grammar;
    const dv = this.length * this.vocab;
    const leaves = (m: Marginals) => m[g.depth];
    try {
      const mu = leaves(referenceBackend.marginals(g, referenceBackend.upward(g, lambda, n)));
      return Array.from({ length: n }, (_, k) => Float64Array.from(mu.subarray(k * dv, (k + 1) * dv)));
    } catch (e) {
      if (!(e instanceof InconsistentEvidenceError)) throw e;
    }
    const out: Float64Array[] = [];
    for (let k = 0; k < n; k++) {
      const one = lambda.slice(k * dv, (k + 1) * dv);
      try {
        out.push(Float64Array.from(leaves(referenceBackend.marginals(g, referenceBackend.upward(g, one, 1)))));
      } catch (e) {
        if (!(e instanceof InconsistentEvidenceError)) throw e;
        this.inconsistent++;
        for (let j = 0; j < dv; j++) one[j] = (1 - INCONSISTENT_FLOOR) * one[j] + INCONSISTENT_FLOOR / this.vocab;
        out.push(Float64Array.from(leaves(referenceBackend.marginals(g, referenceBackend.upward(g, one, 1)))));
      }
    }
    return out;
  }
}
