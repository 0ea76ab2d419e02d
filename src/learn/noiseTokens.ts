import { ParamError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import type { LearnProcess } from './bpUnet.ts';
import type { DiscreteSchedule } from './schedule.ts';

/**
 * Token data for the bpUNet's training (docs/science.md §7): forward noising x_t ~ q(x_t | x_0)
 * and the network's one-hot input. Token arrays are datum-major N × d Int32Arrays (`[n·d + i]` is
 * token i of datum n); a masked token is {@link MASK_TOKEN}. Time indices t are integers 1 … T of
 * a {@link DiscreteSchedule}.
 */

/** The token value of a masked position (mask process). */
export const MASK_TOKEN = -1;

/** The 1e−8 the published loss adds inside both logarithms. */
export const LOG_EPS = 1e-8;

/**
 * Draws x_t ~ q(x_t | x_0) token by token: returns a new N × d Int32Array. `t[n]` is datum n's
 * time (1 … T; d = x0.length / t.length). Uniform: with probability 1 − ᾱ_t a token is redrawn
 * uniformly among the v symbols (it may come back unchanged), so q = ᾱ_t·onehot(x_0) + (1 − ᾱ_t)/v.
 * Mask: with probability 1 − ᾱ_t it becomes {@link MASK_TOKEN}. Per token, one `rng.nextFloat()`
 * decides, and a resampled uniform token takes one `rng.nextInt(v)`.
 */
export function noiseTokens(process: LearnProcess, x0: Int32Array, t: ArrayLike<number>, vocab: number, schedule: DiscreteSchedule, rng: Rng): Int32Array {
  const n = t.length;
  const d = checkTokenShape(x0, n);
  const out = new Int32Array(x0.length);
  for (let i = 0; i < n; i++) {
    const keep = schedule.alphaBar[checkTime(t[i], schedule)];
    for (let k = i * d; k < (i + 1) * d; k++) {
      if (rng.nextFloat() < keep) out[k] = x0[k];
      else out[k] = process === 'uniform' ? rng.nextInt(vocab) : MASK_TOKEN;
    }
  }
  return out;
}

/**
 * The network input for N datums of d tokens: returns a Float32Array N × v × d (channel-first,
 * `[(n·v + b)·d + i]` = 1 where token i of datum n is b). A {@link MASK_TOKEN} gives an all-zero
 * column. Throws a ParamError for a token outside −1 … v − 1.
 */
export function oneHotInput(tokens: Int32Array, count: number, vocab: number): Float32Array {
  const d = checkTokenShape(tokens, count);
  const out = new Float32Array(count * vocab * d);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < d; i++) {
      const b = tokens[n * d + i];
      if (b === MASK_TOKEN) continue;
      if (!(b >= 0 && b < vocab)) throw new ParamError('tokens', `token ${b} outside 0 … ${vocab - 1}`);
      out[(n * vocab + b) * d + i] = 1;
    }
  }
  return out;
}

/** d for N = `count` datums of `tokens` (ParamError 'tokens' unless they split evenly). */
export function checkTokenShape(tokens: Int32Array, count: number): number {
  if (!(count >= 1) || tokens.length % count !== 0 || tokens.length === 0) {
    throw new ParamError('tokens', `${tokens.length} tokens do not split into ${count} datums`);
  }
  return tokens.length / count;
}

/** t itself when it is an integer 0 … T (ParamError 't' otherwise). */
export function checkTime(t: number, sch: DiscreteSchedule): number {
  if (!Number.isInteger(t) || t < 0 || t > sch.steps) throw new ParamError('t', `time ${t} outside 1 … ${sch.steps}`);
  return t;
}

/** b itself when it is a symbol 0 … v − 1 (ParamError 'tokens' otherwise). */
export function checkSymbol(b: number, v: number): number {
  if (!(b >= 0 && b < v && Number.isInteger(b))) throw new ParamError('tokens', `token ${b} outside 0 … ${v - 1}`);
  return b;
}

/**
 * The network input channel-last, as the training graph takes it: a Float32Array N × d × v with
 * `[(n·d + i)·v + b]` = 1 where token i of datum n is b; a {@link MASK_TOKEN} gives an all-zero row.
 * Throws a ParamError for a token outside −1 … v − 1.
 */
export function oneHotRows(tokens: Int32Array, count: number, vocab: number): Float32Array {
  const d = checkTokenShape(tokens, count);
  const out = new Float32Array(count * d * vocab);
  for (let r = 0; r < count * d; r++) {
    const b = tokens[r];
    if (b === MASK_TOKEN) continue;
    if (!(b >= 0 && b < vocab)) throw new ParamError('tokens', `token ${b} outside 0 … ${vocab - 1}`);
    out[r * vocab + b] = 1;
  }
  return out;
}
