import { ParamError } from '../core/errors.ts';
import { embeddingAlphaBar, LAYER_NORM_EPS, paramShapes, timeEmbeddingConstants, validateBpUnetConfig, type BpUnetConfig, type BpUnetParams, type LearnProcess, type Param } from './bpUnet.ts';
import type { LogitsModel } from './logitsModel.ts';

/**
 * A plain float64 forward pass of bpUNet (src/learn/bpUnet.ts, docs/science.md §7), written for
 * clarity rather than speed: it is the oracle the training graph and the ONNX export are tested against. Each
 * step of bpUnet.ts's doc comment is one function here, on one datum at a time.
 */

/** One datum's activations: `data[c·length + p]` is channel c at position p (PyTorch's C×L). */
export interface Activation {
  channels: number;
  length: number;
  data: Float64Array;
}

/**
 * The error function erf(x) = (2/√π)∫₀ˣ e^(−s²) ds to about 1e−15 absolute.
 *
 * Uses the everywhere-convergent series erf(x) = (2/√π)·e^(−x²)·Σₙ 2ⁿx^(2n+1)/(1·3·…·(2n+1)),
 * whose terms are all of x's sign, so summing them loses nothing to cancellation (unlike the
 * alternating Taylor series); for |x| ≥ 6, 1 − |erf(x)| < 3e−17 and ±1 is exact in double.
 * Rational fits such as Abramowitz–Stegun 7.1.26 (error 1.5e−7) are too coarse for an oracle of
 * float32 models.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  const x2 = x * x;
  let term = a;
  let sum = a;
  // Terms grow while 2x²/(2n+1) > 1, then fall geometrically; stop once they no longer change the sum.
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** The exact GELU: x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (PyTorch's default, not the tanh approximation). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/**
 * The embedding index τ = clamp(⌊t·1000⌋, 0, 1000) with t·1000 rounded to float32 first.
 *
 * The models (PyTorch, the nn/ graphs, ONNX) all hold t/T as float32 and multiply in float32, and ⌊·⌋ turns
 * that rounding into a whole step: on the sampling grid t = i/200, float32(i/200)·1000 is 5i − ε in
 * exact arithmetic (e.g. i = 1: 4.99999989) but rounds to 5i in float32. Math.fround of the exact
 * product of two float32 values is the float32 product, so this reproduces the models bit for bit;
 * bpUnet.ts's `embeddingIndex` (float64) gives 5i − 1 there.
 */
export function referenceTimeIndex(tOverT: number): number {
  return Math.min(1000, Math.max(0, Math.floor(Math.fround(Math.fround(tOverT) * 1000))));
}

let alphaBarTable: Float64Array | null = null;

/**
 * Step 1, the BP time embedding of one datum: h_0 = (u − μ)/σ with u = ᾱ_τ·x + (1 − ᾱ_τ)/v
 * (uniform) or u = x + (1 − Σ_b x_b)/v (mask, where t does not enter), τ = {@link referenceTimeIndex}(t/T),
 * μ, σ from `timeEmbeddingConstants(v)`.
 *
 * @param x v×d one-hot values of the datum (x[b·d + i]).
 * @returns h_0 as a v×d {@link Activation}.
 */
export function timeEmbedding(x: ArrayLike<number>, tOverT: number, v: number, d: number, process: LearnProcess): Activation {
  const { mu, sigma } = timeEmbeddingConstants(v);
  alphaBarTable ??= embeddingAlphaBar();
  const ab = alphaBarTable[referenceTimeIndex(tOverT)];
  const out = new Float64Array(v * d);
  for (let i = 0; i < d; i++) {
    let mass = 0;
    for (let b = 0; b < v; b++) mass += x[b * d + i];
    for (let b = 0; b < v; b++) {
      const xb = x[b * d + i];
      const u = process === 'uniform' ? ab * xb + (1 - ab) / v : xb + (1 - mass) / v;
      out[b * d + i] = (u - mu) / sigma;
    }
  }
  return { channels: v, length: d, data: out };
}

/**
 * Conv1d without bias or padding, weight in PyTorch's layout [O, C, k]:
 * out[o, p] = Σ_c Σ_j w[o, c, j]·in[c, p·stride + j], output length ⌊(L − k)/stride⌋ + 1.
 */
export function conv1d(input: Activation, weight: Param, stride: number): Activation {
  const [O, C, k] = weight.shape;
  if (C !== input.channels) throw new RangeError(`conv1d: weight [${weight.shape.join(', ')}] on ${input.channels} channels`);
  const L = input.length;
  const outLen = Math.floor((L - k) / stride) + 1;
  const out = new Float64Array(O * outLen);
  for (let o = 0; o < O; o++) {
    for (let p = 0; p < outLen; p++) {
      let acc = 0;
      for (let c = 0; c < C; c++) {
        for (let j = 0; j < k; j++) acc += weight.data[(o * C + c) * k + j] * input.data[c * L + p * stride + j];
      }
      out[o * outLen + p] = acc;
    }
  }
  return { channels: O, length: outLen, data: out };
}

/**
 * ConvTranspose1d without bias or padding, weight in PyTorch's layout [C_in, C_out, k]:
 * out[o, p·stride + j] += Σ_c in[c, p]·w[c, o, j], output length (L − 1)·stride + k. With
 * k = stride (bpUNet) every output position receives exactly one (p, j).
 */
export function convTranspose1d(input: Activation, weight: Param, stride: number): Activation {
  const [C, O, k] = weight.shape;
  if (C !== input.channels) throw new RangeError(`convTranspose1d: weight [${weight.shape.join(', ')}] on ${input.channels} channels`);
  const L = input.length;
  const outLen = (L - 1) * stride + k;
  const out = new Float64Array(O * outLen);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < L; p++) {
      const x = input.data[c * L + p];
      for (let o = 0; o < O; o++) {
        for (let j = 0; j < k; j++) out[o * outLen + p * stride + j] += x * weight.data[(c * O + o) * k + j];
      }
    }
  }
  return { channels: O, length: outLen, data: out };
}

/**
 * LayerNorm over the channels at each position (PyTorch's nn.LayerNorm(W) applied to L×W):
 * out[c, p] = (h[c, p] − m_p)/√(s²_p + eps)·γ_c + β_c, with m_p and the biased variance s²_p over c.
 */
export function layerNormChannels(h: Activation, gamma: Param, beta: Param, eps = LAYER_NORM_EPS): Activation {
  const { channels: C, length: L } = h;
  const out = new Float64Array(C * L);
  for (let p = 0; p < L; p++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += h.data[c * L + p];
    mean /= C;
    let variance = 0;
    for (let c = 0; c < C; c++) variance += (h.data[c * L + p] - mean) ** 2;
    variance /= C;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < C; c++) out[c * L + p] = (h.data[c * L + p] - mean) * inv * gamma.data[c] + beta.data[c];
  }
  return { channels: C, length: L, data: out };
}

/** `a` and `b` (same length) stacked along channels: a's channels first, as torch.cat(dim=1). */
export function concatChannels(a: Activation, b: Activation): Activation {
  if (a.length !== b.length) throw new RangeError(`concat: lengths ${a.length} and ${b.length}`);
  const data = new Float64Array((a.channels + b.channels) * a.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { channels: a.channels + b.channels, length: a.length, data };
}

function map(h: Activation, f: (x: number) => number): Activation {
  return { channels: h.channels, length: h.length, data: h.data.map(f) };
}

/**
 * Throws a ParamError (param 'params') unless `params` holds every tensor of `paramShapes(config)`
 * with that shape and as many values; also validates the config.
 */
export function checkBpUnetParams(params: BpUnetParams, config: BpUnetConfig): void {
  validateBpUnetConfig(config);
  for (const [name, shape] of paramShapes(config)) {
    const p = params[name];
    if (!p) throw new ParamError('params', `missing parameter "${name}" (expected shape [${shape.join(', ')}])`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (p.shape.length !== shape.length || p.shape.some((x, k) => x !== shape[k]) || p.data.length !== size) {
      throw new ParamError('params', `parameter "${name}" has shape [${p.shape.join(', ')}] and ${p.data.length} values, expected [${shape.join(', ')}]`);
    }
  }
}

/** d = s^L: the sequence length of a config. */
export function bpUnetLength(config: BpUnetConfig): number {
  return config.tuple ** config.depth;
}

/**
 * bpUNet's logits for one datum, steps 1–5 of bpUnet.ts's doc comment, every convolution divided
 * by √fan_in (the readout by fan_in):
 * e = GELU(conv₁(h_0)/√v); down: h ← GELU(LN(conv_s(h)/√(s·W))), skips = outputs;
 * up j: h ← GELU(LN(convT_s(concat(h, skip_{L−1−j}))/√(s·2W))); logits = conv₁(concat(h, e))/(2W).
 */
function forwardOne(params: BpUnetParams, config: BpUnetConfig, x: ArrayLike<number>, tOverT: number): Activation {
  const { vocab: v, tuple: s, depth: L, width: W } = config;
  const d = bpUnetLength(config);
  const scaled = (h: Activation, c: number) => map(h, (y) => y / c);

  const h0 = timeEmbedding(x, tOverT, v, d, config.process);
  const e = map(scaled(conv1d(h0, params['embed.weight'], 1), Math.sqrt(v)), gelu);

  let h = e;
  const skips: Activation[] = [];
  for (let i = 0; i < L; i++) {
    const z = scaled(conv1d(h, params[`down.${i}.conv.weight`], s), Math.sqrt(s * W));
    h = map(layerNormChannels(z, params[`down.${i}.norm.weight`], params[`down.${i}.norm.bias`]), gelu);
    skips.push(h);
  }
  // The bottleneck is skips[L − 1] itself, so the first up block sees concat(bottleneck, bottleneck).
  for (let j = 0; j < L; j++) {
    const z = scaled(convTranspose1d(concatChannels(h, skips[L - 1 - j]), params[`up.${j}.conv.weight`], s), Math.sqrt(s * 2 * W));
    h = map(layerNormChannels(z, params[`up.${j}.norm.weight`], params[`up.${j}.norm.bias`]), gelu);
  }
  return scaled(conv1d(concatChannels(h, e), params['readout.weight'], 1), 2 * W);
}

/**
 * bpUNet's logits in float64.
 *
 * @param x N×v×d one-hot inputs, x[(n·v + b)·d + i] (a masked token: an all-zero column).
 * @param tOverT N time fractions t/T.
 * @returns N×v×d logits, same layout. Throws ParamError on bad params/config, RangeError on sizes.
 */
export function referenceLogits(params: BpUnetParams, config: BpUnetConfig, x: Float32Array, tOverT: ArrayLike<number>, n: number): Float64Array {
  checkBpUnetParams(params, config);
  const v = config.vocab;
  const d = bpUnetLength(config);
  if (x.length !== n * v * d) throw new RangeError(`x has ${x.length} values, expected ${n}×${v}×${d}`);
  if (tOverT.length !== n) throw new RangeError(`${tOverT.length} time fractions for ${n} data`);
  const out = new Float64Array(n * v * d);
  for (let k = 0; k < n; k++) {
    out.set(forwardOne(params, config, x.subarray(k * v * d, (k + 1) * v * d), tOverT[k]).data, k * v * d);
  }
  return out;
}

/** {@link referenceLogits} behind the {@link LogitsModel} interface (logits rounded to float32). */
export class ReferenceModel implements LogitsModel {
  readonly vocab: number;
  readonly length: number;
  readonly process: LearnProcess;

  /** Checks the params against the config (ParamError) and keeps both (not copied). */
  constructor(
    readonly params: BpUnetParams,
    readonly config: BpUnetConfig,
  ) {
    checkBpUnetParams(params, config);
    this.vocab = config.vocab;
    this.length = bpUnetLength(config);
    this.process = config.process;
  }

  /** N×v×d float32 logits of {@link referenceLogits}. */
  async logits(x: Float32Array, tOverT: Float32Array, n: number): Promise<Float32Array> {
    return Float32Array.from(referenceLogits(this.params, this.config, x, tOverT, n));
  }
}
