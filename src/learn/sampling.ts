import { checkInt, ParamError } from '../core/errors.ts';
import { createRng, type Rng } from '../core/random.ts';
import { MASK } from '../noise/process.ts';
import { oneHot, type LogitsModel } from './logitsModel.ts';
import type { DiscreteSchedule } from './schedule.ts';

/** Options of {@link sampleFromModel}. */
export interface SampleOptions {
  /** Number of samples N. */
  readonly count: number;
  /**
   * Start from these x_t (N×d tokens, {@link MASK} for a masked token) at time t instead of from
   * x_T: the backward half of a forward–backward experiment. t = 0 returns a copy.
   */
  readonly from?: { readonly tokens: Int32Array; readonly t: number };
  /** Source of all randomness; one draw from it seeds an independent stream per sample. */
  readonly rng: Rng;
  /** Samples per model call (default 256); the result does not depend on it. */
  readonly batch?: number;
  /** Progress: called after each model call with the number of samples it moved one reverse step (a batch's size). */
  readonly onStep?: (samples: number) => void;
}

function checkSchedule(schedule: DiscreteSchedule): number {
  const T = checkInt('steps', schedule.steps, 1);
  if (schedule.alpha.length !== T + 1 || schedule.alphaBar.length !== T + 1) {
    throw new ParamError('steps', `invalid schedule: alpha and alphaBar need T + 1 = ${T + 1} entries`);
  }
  return T;
}

/**
 * Draws x_0 from a learned denoiser with the reverse process of its own noise process and the
 * discrete schedule (docs/science.md §7, "Sampling"). Start: x_T (uniform: uniform random tokens;
 * mask: every token masked), or the given x_t. Then for i = t … 1, x̂_0 = softmax(logits(x_i, i/T))
 * and each token draws x_{i−1} independently:
 * - uniform: from the normalised q(x_{i−1} | x_i, x̂_0) ∝ [α_i·onehot(x_i) + (1 − α_i)/v] ⊙
 *   [ᾱ_{i−1}·x̂_0 + (1 − ᾱ_{i−1})/v] — the published sampler, including its last step to x_0,
 *   which keeps the slight ᾱ_0 < 1 noise of that convention;
 * - mask: a visible token stays; a masked one becomes b with probability
 *   x̂_0(b)·(ᾱ_{i−1} − ᾱ_i)/(1 − ᾱ_i) and stays masked otherwise. Since ᾱ_0 < 1 a token may still be
 *   masked after i = 1 (probability (1 − ᾱ_0)/(1 − ᾱ_1) per token still masked then); it takes
 *   the argmax of that last x̂_0, so the output is always a token sequence.
 * For uniform the step is exact token by token when x̂_0(a) ∝ p(x_0 = a | x_t)/q(x_t | a) — what
 * the published loss trains a network towards (BpOracleModel's `'reverse'` target) — not when x̂_0
 * is E[x_0 | x_t] itself. Returns x_0, N×d tokens. Each sample has its own random stream (seeded
 * from one draw of `rng`), so the result is the same for every batch size up to the model's
 * floating-point batch effects.
 */
export async function sampleFromModel(model: LogitsModel, schedule: DiscreteSchedule, options: SampleOptions): Promise<Int32Array> {
  const T = checkSchedule(schedule);
  const count = checkInt('samples', options.count, 1, 1e9);
  const batch = checkInt('batch', options.batch ?? 256, 1, 1e7);
  const { vocab: v, length: d, process } = model;
  if (process !== 'uniform' && process !== 'mask') throw new ParamError('process', `invalid process "${String(process)}" (expected uniform or mask)`);
  const start = options.from?.t ?? T;
  checkInt('t', start, 0, T);
  const out = new Int32Array(count * d);
  if (options.from) {
    const x = options.from.tokens;
    if (x.length !== count * d) throw new ParamError('tokens', `invalid tokens: got ${x.length} values (expected ${count}×${d})`);
    for (let k = 0; k < x.length; k++) {
      const b = x[k];
      const ok = Number.isInteger(b) && b < v && (b >= 0 || (b === MASK && process === 'mask'));
      if (!ok) throw new ParamError('tokens', `invalid token ${b} at ${k} (expected 0 … ${v - 1}${process === 'mask' ? ' or −1 for a mask' : ''})`);
    }
    out.set(x);
    if (start === 0) return out;
  }
  // 53 bits of the caller's stream seed one independent stream per sample, so batching cannot
  // change which random numbers a sample uses.
  const base = options.rng.nextUint32() * 2097152 + (options.rng.nextUint32() >>> 11);
  for (let lo = 0; lo < count; lo += batch) {
    const n = Math.min(batch, count - lo);
    const streams = Array.from({ length: n }, (_, k) => createRng(base, lo + k));
    const x = out.subarray(lo * d, (lo + n) * d);
    if (!options.from) {
      for (let k = 0; k < n; k++) {
        for (let i = 0; i < d; i++) x[k * d + i] = process === 'uniform' ? streams[k].nextInt(v) : MASK;
      }
    }
    await reverseBatch(model, schedule, x, n, start, streams, options.onStep);
  }
  return out;
}

/** Runs i = t … 1 on one batch in place (see {@link sampleFromModel}). */
async function reverseBatch(model: LogitsModel, schedule: DiscreteSchedule, x: Int32Array, n: number, t: number, streams: Rng[], onStep?: (samples: number) => void): Promise<void> {
  const { vocab: v, length: d, process } = model;
  const T = schedule.steps;
  const p = new Float64Array(v);
  const w = new Float64Array(v);
  const time = new Float32Array(n);
  let last: Float32Array | null = null;
  for (let i = t; i >= 1; i--) {
    time.fill(i / T);
    const logits = await model.logits(oneHot(x, n, v, d), time, n);
    if (logits.length !== n * v * d) throw new Error(`model returned ${logits.length} logits (expected ${n}×${v}×${d})`);
    const alpha = schedule.alpha[i];
    const abPrev = schedule.alphaBar[i - 1];
    const ab = schedule.alphaBar[i];
    // Mask: chance that a masked token is revealed at this step (guarded for ᾱ_i = 1).
    const reveal = ab < 1 ? (abPrev - ab) / (1 - ab) : 1;
    for (let k = 0; k < n; k++) {
      const rng = streams[k];
      for (let pos = 0; pos < d; pos++) {
        const cur = x[k * d + pos];
        if (process === 'mask' && cur !== MASK) continue;
        if (process === 'uniform') {
          softmaxColumn(logits, k, pos, v, d, p);
          let total = 0;
          for (let b = 0; b < v; b++) {
            w[b] = (alpha * (b === cur ? 1 : 0) + (1 - alpha) / v) * (abPrev * p[b] + (1 - abPrev) / v);
            total += w[b];
          }
          x[k * d + pos] = draw(w, v, total, rng);
        } else {
          // One uniform decides both whether and to what: [0, reveal) is split in proportion to x̂_0.
          let u = rng.nextFloat();
          if (u >= reveal) continue;
          u /= reveal;
          softmaxColumn(logits, k, pos, v, d, p);
          let b = 0;
          for (; b < v - 1; b++) {
            u -= p[b];
            if (u < 0) break;
          }
          x[k * d + pos] = b;
        }
      }
    }
    last = logits;
    onStep?.(n);
  }
  if (process === 'mask' && last) {
    for (let k = 0; k < n; k++) {
      for (let pos = 0; pos < d; pos++) {
        if (x[k * d + pos] !== MASK) continue;
        let best = 0;
        for (let b = 1; b < v; b++) if (last[(k * v + b) * d + pos] > last[(k * v + best) * d + pos]) best = b;
        x[k * d + pos] = best;
      }
    }
  }
}

/** Softmax over v of datum k's column `pos` of N×v×d logits, max-subtracted, in float64. */
function softmaxColumn(logits: Float32Array, k: number, pos: number, v: number, d: number, out: Float64Array): void {
  let max = -Infinity;
  for (let b = 0; b < v; b++) max = Math.max(max, logits[(k * v + b) * d + pos]);
  let sum = 0;
  for (let b = 0; b < v; b++) {
    out[b] = Math.exp(logits[(k * v + b) * d + pos] - max);
    sum += out[b];
  }
  for (let b = 0; b < v; b++) out[b] /= sum;
}

/** Index drawn with probability w[b]/total; round-off past the end returns the last positive weight. */
function draw(w: Float64Array, v: number, total: number, rng: Rng): number {
  let u = rng.nextFloat() * total;
  for (let b = 0; b < v - 1; b++) {
    u -= w[b];
    if (u < 0) return b;
  }
  for (let b = v - 1; b > 0; b--) if (w[b] > 0) return b;
  return 0;
}

/**
 * Forward noising to time t of the discrete schedule (docs/science.md §7): each token
 * independently, with probability 1 − ᾱ_t, is resampled uniformly from the v symbols (uniform;
 * it may land on itself) or replaced by {@link MASK} (mask). t = 0 applies ᾱ_0 like every other t
 * (ᾱ_0 = 0.999 in the published convention), so it is not quite the identity. x0 is N×d tokens.
 */
export function noiseTo(process: LogitsModel['process'], x0: Int32Array, t: number, schedule: DiscreteSchedule, rng: Rng, vocab: number): Int32Array {
  const T = checkSchedule(schedule);
  checkInt('t', t, 0, T);
  checkInt('vocab', vocab, 2);
  if (process !== 'uniform' && process !== 'mask') throw new ParamError('process', `invalid process "${String(process)}" (expected uniform or mask)`);
  const eps = 1 - schedule.alphaBar[t];
  const out = x0.slice();
  for (let k = 0; k < out.length; k++) {
    if (rng.nextFloat() < eps) out[k] = process === 'uniform' ? rng.nextInt(vocab) : MASK;
  }
  return out;
}
