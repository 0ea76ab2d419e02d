import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs';
import { ParamError } from '../../core/errors.ts';
import type { Rng } from '../../core/random.ts';
import type { LearnProcess } from '../bpUnet.ts';
import type { DiscreteSchedule } from '../schedule.ts';
import type { Tf } from './backend.ts';

/**
 * The training objective of docs/science.md §7 on tfjs: forward noising of token data, the
 * network's one-hot input, and the D3PM KL loss for the uniform process and its absorbing-state
 * (mask) counterpart.
 *
 * Token arrays are datum-major N × d Int32Arrays (`[n·d + i]` is token i of datum n); a masked
 * token is {@link MASK_TOKEN}. Time indices t are integers 1 … T of a {@link DiscreteSchedule}.
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

/**
 * The published x̂_0-parameterised loss (docs/science.md §7): returns the scalar
 * Σ_tokens KL(q(x_{t−1} | x_t, x_0) ‖ q(x_{t−1} | x_t, x̂_0)) / (N·d), with x̂_0 = softmax over v of
 * `logits` (N × v × d, the network's output) and 1e−8 added inside both logarithms of the KL.
 *
 * - uniform: q(x_{t−1} = k | x_t, x_0) ∝ [α_t·1(x_t = k) + (1 − α_t)/v]·[ᾱ_{t−1}·1(x_0 = k) + (1 − ᾱ_{t−1})/v],
 *   the model's with x̂_0(k) in place of 1(x_0 = k); both normalised over k.
 * - mask (absorbing state; outcomes: the v symbols and MASK): a visible x_t forces x_{t−1} = x_t
 *   in both posteriors (KL 0: such tokens add nothing but still count in N·d); for a masked x_t,
 *   x_{t−1} = x_0 with probability p = (ᾱ_{t−1} − ᾱ_t)/(1 − ᾱ_t), else MASK; the model puts p·x̂_0(k)
 *   on each symbol k. The KL reduces to p·[log(p + 1e−8) − log(p·x̂_0(x_0) + 1e−8)].
 *
 * The terms without the network (the true posterior's entropy part) are computed on the host in
 * float64; the rest on tfjs in float32, so the gradient flows to `logits`. `x0` holds symbols
 * 0 … v − 1, `xt` the noised tokens (MASK_TOKEN allowed for mask), `t` N values in 1 … T.
 */
export function d3pmLoss(
  tf: Tf,
  process: LearnProcess,
  logits: Tensor,
  x0: Int32Array,
  xt: Int32Array,
  t: ArrayLike<number>,
  schedule: DiscreteSchedule,
): Scalar {
  if (logits.rank !== 3) throw new ParamError('logits', `logits have rank ${logits.rank}, expected 3 (N × v × d)`);
  const [n, v, d] = logits.shape;
  if (t.length !== n) throw new ParamError('t', `${t.length} time values for ${n} datums`);
  if (checkTokenShape(x0, n) !== d || xt.length !== x0.length) throw new ParamError('tokens', `token arrays do not match logits [${logits.shape.join(', ')}]`);
  const rows = n * d;
  return tf.tidy(() => {
    const xhat = tf.softmax(tf.reshape(tf.transpose(logits, [0, 2, 1]), [rows, v])) as Tensor2D;
    return process === 'uniform' ? uniformKl(tf, xhat, x0, xt, t, n, d, v, schedule) : maskKl(tf, xhat, x0, xt, t, n, d, v, schedule);
  });
}

function uniformKl(tf: Tf, xhat: Tensor2D, x0: Int32Array, xt: Int32Array, t: ArrayLike<number>, n: number, d: number, v: number, sch: DiscreteSchedule): Scalar {
  const rows = n * d;
  // Per row: A_k = α_t·1(x_t = k) + (1 − α_t)/v (the likelihood of x_t), the prior's
  // coefficients c1 = ᾱ_{t−1}, c0 = (1 − ᾱ_{t−1})/v, and q_true itself, all float64 on the host.
  const like = new Float32Array(rows * v);
  const c1 = new Float32Array(rows);
  const c0 = new Float32Array(rows);
  const qTrue = new Float32Array(rows * v);
  const q = new Float64Array(v);
  let entropyPart = 0; // Σ q_true·log(q_true + 1e−8)
  for (let i = 0; i < n; i++) {
    const ti = checkTime(t[i], sch);
    if (ti < 1) throw new ParamError('t', `time ${ti} outside 1 … ${sch.steps}`);
    const a = sch.alpha[ti];
    const abPrev = sch.alphaBar[ti - 1];
    for (let r = i * d; r < (i + 1) * d; r++) {
      const x0r = checkSymbol(x0[r], v);
      const xtr = checkSymbol(xt[r], v);
      c1[r] = abPrev;
      c0[r] = (1 - abPrev) / v;
      let z = 0;
      for (let k = 0; k < v; k++) {
        const lk = (k === xtr ? a : 0) + (1 - a) / v;
        like[r * v + k] = lk;
        q[k] = lk * ((k === x0r ? abPrev : 0) + (1 - abPrev) / v);
        z += q[k];
      }
      for (let k = 0; k < v; k++) {
        const qk = q[k] / z;
        qTrue[r * v + k] = qk;
        entropyPart += qk * Math.log(qk + LOG_EPS);
      }
    }
  }
  const unnorm = tf.mul(tf.tensor2d(like, [rows, v]), tf.add(tf.mul(xhat, tf.tensor2d(c1, [rows, 1])), tf.tensor2d(c0, [rows, 1])));
  const qModel = tf.div(unnorm, tf.sum(unnorm, 1, true));
  const cross = tf.sum(tf.mul(tf.tensor2d(qTrue, [rows, v]), tf.log(tf.add(qModel, LOG_EPS))));
  return tf.div(tf.sub(entropyPart, cross), rows) as Scalar;
}

function maskKl(tf: Tf, xhat: Tensor2D, x0: Int32Array, xt: Int32Array, t: ArrayLike<number>, n: number, d: number, v: number, sch: DiscreteSchedule): Scalar {
  const rows = n * d;
  // Only masked rows contribute: weight p at the column of x_0, zero elsewhere.
  const pick = new Float32Array(rows * v);
  const weight = new Float32Array(rows);
  let entropyPart = 0; // Σ p·log(p + 1e−8) over masked rows
  for (let i = 0; i < n; i++) {
    const ti = checkTime(t[i], sch);
    if (ti < 1) throw new ParamError('t', `time ${ti} outside 1 … ${sch.steps}`);
    const ab = sch.alphaBar[ti];
    const p = (sch.alphaBar[ti - 1] - ab) / (1 - ab);
    for (let r = i * d; r < (i + 1) * d; r++) {
      const x0r = checkSymbol(x0[r], v);
      if (xt[r] !== MASK_TOKEN) {
        if (xt[r] !== x0r) throw new ParamError('tokens', `mask process: visible token ${xt[r]} differs from x0 ${x0r}`);
        continue;
      }
      pick[r * v + x0r] = 1;
      weight[r] = p;
      entropyPart += p * Math.log(p + LOG_EPS);
    }
  }
  const w = tf.tensor1d(weight);
  const picked = tf.sum(tf.mul(xhat, tf.tensor2d(pick, [rows, v])), 1); // x̂_0(x_0) on masked rows, 0 elsewhere
  const cross = tf.sum(tf.mul(w, tf.log(tf.add(tf.mul(w, picked), LOG_EPS))));
  return tf.div(tf.sub(entropyPart, cross), rows) as Scalar;
}

function checkTokenShape(tokens: Int32Array, count: number): number {
  if (!(count >= 1) || tokens.length % count !== 0 || tokens.length === 0) {
    throw new ParamError('tokens', `${tokens.length} tokens do not split into ${count} datums`);
  }
  return tokens.length / count;
}

function checkTime(t: number, sch: DiscreteSchedule): number {
  if (!Number.isInteger(t) || t < 0 || t > sch.steps) throw new ParamError('t', `time ${t} outside 1 … ${sch.steps}`);
  return t;
}

function checkSymbol(b: number, v: number): number {
  if (!(b >= 0 && b < v && Number.isInteger(b))) throw new ParamError('tokens', `token ${b} outside 0 … ${v - 1}`);
  return b;
}
