import { ParamError } from '../core/errors.ts';
import type { Graph, Value } from '../nn/graph.ts';
import type { LearnProcess } from './bpUnet.ts';
import { checkSymbol, checkTime, checkTokenShape, LOG_EPS, MASK_TOKEN } from './noiseTokens.ts';
import type { DiscreteSchedule } from './schedule.ts';

/**
 * The published x̂_0-parameterised D3PM loss (docs/science.md §7) as an nn/ graph: per token
 * KL(q(x_{t−1} | x_t, x_0) ‖ q(x_{t−1} | x_t, x̂_0)) with x̂_0 = softmax over v of the network's
 * logits and 1e−8 inside both logarithms. Everything that does not involve the network (the true
 * posterior, the likelihood of x_t, the prior's coefficients) is computed on the host in float64
 * by {@link d3pmFeeds} and fed as float32 inputs; the graph holds the part the gradient flows through.
 *
 * - uniform: q(x_{t−1} = k | x_t, x_0) ∝ A_k·[ᾱ_{t−1}·1(x_0 = k) + (1 − ᾱ_{t−1})/v] with
 *   A_k = α_t·1(x_t = k) + (1 − α_t)/v; the model's with x̂_0(k) in place of 1(x_0 = k); both
 *   normalised over k. Inputs `likelihood` (A) [N, d, v], `prior_keep` (ᾱ_{t−1}) and `prior_uniform`
 *   ((1 − ᾱ_{t−1})/v) [N, 1, 1], `q_true` [N, d, v] and `q_true_log` (q·log(q + 1e−8)) [N, d, v].
 * - mask (absorbing; outcomes the v symbols and MASK): a visible x_t forces x_{t−1} = x_t in both
 *   posteriors (KL 0, but the token still counts); for a masked x_t, x_{t−1} = x_0 with probability
 *   p = (ᾱ_{t−1} − ᾱ_t)/(1 − ᾱ_t), and the KL is p·log(p + 1e−8) − p·log(p·x̂_0(x_0) + 1e−8).
 *   Inputs `pick` (one-hot of x_0 on masked tokens, 0 elsewhere) [N, d, v], `weight` (p on masked
 *   tokens, 0 elsewhere) and `entropy` (p·log(p + 1e−8) there) [N, d, 1].
 */

/** The names of the loss's data inputs for each process, in declaration order. */
export const D3PM_INPUTS: Record<LearnProcess, readonly string[]> = {
  uniform: ['likelihood', 'prior_keep', 'prior_uniform', 'q_true', 'q_true_log'],
  mask: ['pick', 'weight', 'entropy'],
};

/**
 * Declares the loss's inputs on `g` for `n` datums (a number, or a symbol such as 'N') and returns
 * the per-datum loss Σ_tokens KL [n] of `logits` (channel-last [n, d, v]).
 */
export function d3pmLossGraph(g: Graph, process: LearnProcess, logits: Value): Value {
  const [n, d, v] = logits.shape;
  const xhat = g.softmax(logits, 2);
  if (process === 'uniform') {
    const like = g.input('likelihood', [n, d, v]);
    const keep = g.input('prior_keep', [n, 1, 1]);
    const uni = g.input('prior_uniform', [n, 1, 1]);
    const qTrue = g.input('q_true', [n, d, v]);
    const qLogQ = g.input('q_true_log', [n, d, v]);
    const unnorm = g.mul(like, g.add(g.mul(xhat, keep), uni));
    const qModel = g.div(unnorm, g.reduceSum(unnorm, [2], true));
    const kl = g.sub(qLogQ, g.mul(qTrue, g.log(g.add(qModel, LOG_EPS))));
    return g.reduceSum(kl, [1, 2]);
  }
  const pick = g.input('pick', [n, d, v]);
  const weight = g.input('weight', [n, d, 1]);
  const entropy = g.input('entropy', [n, d, 1]);
  const picked = g.reduceSum(g.mul(xhat, pick), [2], true); // x̂_0(x_0) on masked tokens, 0 elsewhere
  const kl = g.sub(entropy, g.mul(weight, g.log(g.add(g.mul(weight, picked), LOG_EPS))));
  return g.reduceSum(kl, [1, 2]);
}

/**
 * The host-side inputs of {@link d3pmLossGraph} for N datums (float64 arithmetic, float32 out).
 * `x0` holds symbols 0 … v − 1, `xt` the noised tokens (MASK_TOKEN allowed for mask), `t` N values
 * in 1 … T. Throws a ParamError on bad tokens or times.
 */
export function d3pmFeeds(process: LearnProcess, x0: Int32Array, xt: Int32Array, t: ArrayLike<number>, v: number, sch: DiscreteSchedule): Record<string, Float32Array> {
  const n = t.length;
  const d = checkTokenShape(x0, n);
  if (xt.length !== x0.length) throw new ParamError('tokens', `x_t has ${xt.length} tokens, x_0 ${x0.length}`);
  const rows = n * d;
  const time = (i: number) => {
    const ti = checkTime(t[i], sch);
    if (ti < 1) throw new ParamError('t', `time ${ti} outside 1 … ${sch.steps}`);
    return ti;
  };
  if (process === 'uniform') {
    const like = new Float32Array(rows * v);
    const keep = new Float32Array(n);
    const uni = new Float32Array(n);
    const qTrue = new Float32Array(rows * v);
    const qLog = new Float32Array(rows * v);
    const q = new Float64Array(v);
    for (let i = 0; i < n; i++) {
      const ti = time(i);
      const a = sch.alpha[ti];
      const abPrev = sch.alphaBar[ti - 1];
      keep[i] = abPrev;
      uni[i] = (1 - abPrev) / v;
      for (let r = i * d; r < (i + 1) * d; r++) {
        const x0r = checkSymbol(x0[r], v);
        const xtr = checkSymbol(xt[r], v);
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
          qLog[r * v + k] = qk * Math.log(qk + LOG_EPS);
        }
      }
    }
    return { likelihood: like, prior_keep: keep, prior_uniform: uni, q_true: qTrue, q_true_log: qLog };
  }
  const pick = new Float32Array(rows * v);
  const weight = new Float32Array(rows);
  const entropy = new Float32Array(rows);
  for (let i = 0; i < n; i++) {
    const ti = time(i);
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
      entropy[r] = p * Math.log(p + LOG_EPS);
    }
  }
  return { pick, weight, entropy };
}
