import { ParamError } from '../core/errors.ts';
import type { Graph, Value } from '../nn/graph.ts';
import type { BpUnetConfig } from './bpUnet.ts';
import { bpUnetRows, embeddingAlphaBarOf } from './bpUnetGraph.ts';
import { d3pmFeeds, d3pmLossGraph } from './bpUnetLoss.ts';
import { oneHotRows } from './noiseTokens.ts';
import type { DiscreteSchedule } from './schedule.ts';

/**
 * What the bpUNet's training and evaluation graphs are fed (bpUnetTrain.ts: `train` and `lossOn`):
 * the token data, checked and gathered into batches, turned into float32 feeds, and the loss graphs
 * that declare those feeds as inputs.
 */

/**
 * The data inputs of the bpUNet's training and evaluation graphs for N datums, in float32:
 * `x` [N, d, v] (x_t one-hot, channel-last), `alpha_bar` [N] (uniform process only: the embedding's
 * ᾱ_τ of t/T) and the loss's host constants ({@link d3pmFeeds}).
 */
export function bpUnetFeeds(config: BpUnetConfig, x0: Int32Array, xt: Int32Array, t: ArrayLike<number>, schedule: DiscreteSchedule): Record<string, Float32Array> {
  const n = t.length;
  const feeds: Record<string, Float32Array> = { x: oneHotRows(xt, n, config.vocab), ...d3pmFeeds(config.process, x0, xt, t, config.vocab, schedule) };
  if (config.process === 'uniform') feeds.alpha_bar = embeddingAlphaBarOf(Array.from(t, (ti) => ti / schedule.steps));
  return feeds;
}

/**
 * The bpUNet's per-datum loss for `n` datums (a number, or a symbol for a batch left open): declares
 * the inputs of {@link bpUnetFeeds} on `g` and returns Σ_tokens KL [n] (bpUnetLoss.ts).
 */
export function bpUnetDatumLoss(g: Graph, params: Record<string, Value>, config: BpUnetConfig, n: number | string): Value {
  const { vocab: v, tuple: s, depth: L } = config;
  const d = s ** L;
  const x = g.input('x', [n, d, v]);
  const ab = config.process === 'uniform' ? { alphaBar: g.input('alpha_bar', [n]) } : null;
  return d3pmLossGraph(g, config.process, bpUnetRows(g, params, config, x, ab));
}

/**
 * The training loss of a batch: the mean over its `batch`·d tokens of the per-token KL
 * (the published Σ_tokens KL / (B·d)), a scalar.
 */
export function bpUnetBatchLoss(g: Graph, params: Record<string, Value>, config: BpUnetConfig, batch: number): Value {
  const d = config.tuple ** config.depth;
  return g.mul(g.reduceSum(bpUnetDatumLoss(g, params, config, batch), [0]), 1 / (batch * d));
}

/** The rows `idx` of N × d tokens, in that order. */
export function gatherRows(data: Int32Array, idx: Int32Array, d: number): Int32Array {
  const out = new Int32Array(idx.length * d);
  for (let j = 0; j < idx.length; j++) out.set(data.subarray(idx[j] * d, (idx[j] + 1) * d), j * d);
  return out;
}

/** Checks N × d tokens in 0 … v − 1 (ParamError 'data') and returns N. */
export function checkData(data: Int32Array, d: number, v: number): number {
  if (!(data instanceof Int32Array) || data.length === 0 || data.length % d !== 0) {
    throw new ParamError('data', `training data must be a non-empty Int32Array of N × ${d} tokens`);
  }
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] >= v) throw new ParamError('data', `token ${data[i]} at index ${i} outside 0 … ${v - 1}`);
  }
  return data.length / d;
}
