import { checkInt, resolveVariant } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import type { NamedParams } from '../nn/params.ts';

/**
 * The companion code's hierarchical U-Net on RHM data ("bpUNet", docs/science.md §7): the one
 * definition that the training graph (bpUnetGraph.ts), the float64 reference forward, the ONNX exporter and the
 * checkpoints share. Weights use PyTorch's layouts, so a state dict of the published model maps
 * onto them name by name.
 *
 * Forward pass, input x: N × v × d (one-hot tokens; for the mask process a masked token is an
 * all-zero column), t: N values of t/T ∈ (0, 1]:
 * 1. BP time embedding: τ = ⌊t·1000⌋, u = ᾱ_τ·x + (1 − ᾱ_τ)/v for the uniform process (the BP leaf
 *    message of docs/science.md §2), u = x + (1 − Σ_b x_b)/v for mask (visible: one-hot, masked:
 *    uniform); h_0 = (u − μ)/σ with the scalar constants of {@link timeEmbeddingConstants}.
 * 2. e = GELU(conv1×1(h_0)) (v → W).
 * 3. down, i = 0 … L−1: h = GELU(LayerNorm_c(conv_s(h))), kernel s, stride s, W → W; the outputs
 *    are the skips, lengths d/s, …, 1.
 * 4. up, j = 0 … L−1: h = GELU(LayerNorm_c(convT_s(concat(h, skip[L−1−j])))), 2W → W, length × s;
 *    the first up block concatenates the bottleneck with itself.
 * 5. logits = conv1×1(concat(h, e)) (2W → v).
 * Every convolution has no bias, and its output is divided by √fan_in (fan_in = kernel ×
 * in-channels), the readout's by fan_in itself ("mean-field scaling"). LayerNorm is over the W
 * channels at each position, eps 1e−5, affine. GELU is the exact (erf) one.
 */
export interface BpUnetConfig {
  /** Vocabulary v (input and output channels). */
  vocab: number;
  /** Tuple size s (kernel and stride of the down and up convolutions). */
  tuple: number;
  /** Depth L: d = s^L tokens, L down and L up blocks. */
  depth: number;
  /** Channels W (published default 1024; ours 256). */
  width: number;
  /** Which noise process the model denoises: it changes only the time embedding's u. */
  process: LearnProcess;
}

export type LearnProcess = 'uniform' | 'mask';
export const LEARN_PROCESSES: readonly LearnProcess[] = ['uniform', 'mask'];

export type { Param } from '../nn/params.ts';

/** All parameters by name (see {@link paramShapes}): the one parameter type of nn/. */
export type BpUnetParams = NamedParams;

/** LayerNorm epsilon (PyTorch's default). */
export const LAYER_NORM_EPS = 1e-5;

/** Checks a config (ParamError naming the option). */
export function validateBpUnetConfig(c: BpUnetConfig): BpUnetConfig {
  checkInt('vocab', c.vocab, 2, 4096);
  checkInt('tuple', c.tuple, 2, 64);
  checkInt('depth', c.depth, 1, 20);
  checkInt('width', c.width, 1, 8192);
  resolveVariant('process', c.process, LEARN_PROCESSES);
  return c;
}

/**
 * Names and shapes of every parameter, in a fixed order (the checkpoint order):
 * - `embed.weight` [W, v, 1]: the 1×1 convolution of step 2;
 * - `down.{i}.conv.weight` [W, W, s], `down.{i}.norm.weight` [W], `down.{i}.norm.bias` [W];
 * - `up.{j}.conv.weight` [2W, W, s] (ConvTranspose1d layout: in, out, kernel), `up.{j}.norm.weight`,
 *   `up.{j}.norm.bias` [W];
 * - `readout.weight` [v, 2W, 1].
 */
export function paramShapes(c: BpUnetConfig): [string, number[]][] {
  const { vocab: v, tuple: s, depth: L, width: W } = c;
  const shapes: [string, number[]][] = [['embed.weight', [W, v, 1]]];
  for (let i = 0; i < L; i++) shapes.push([`down.${i}.conv.weight`, [W, W, s]], [`down.${i}.norm.weight`, [W]], [`down.${i}.norm.bias`, [W]]);
  for (let j = 0; j < L; j++) shapes.push([`up.${j}.conv.weight`, [2 * W, W, s]], [`up.${j}.norm.weight`, [W]], [`up.${j}.norm.bias`, [W]]);
  shapes.push(['readout.weight', [v, 2 * W, 1]]);
  return shapes;
}

/** The published initialisation: convolution weights ~ N(0, 1), LayerNorm weight 1 and bias 0. */
export function initBpUnet(c: BpUnetConfig, rng: Rng): BpUnetParams {
  validateBpUnetConfig(c);
  const params: BpUnetParams = {};
  for (const [name, shape] of paramShapes(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) data.fill(1);
    else if (!name.endsWith('norm.bias')) rng.fillNormal(data);
    params[name] = { shape, data };
  }
  return params;
}

/** ᾱ_τ, τ = 0 … 1000, of the embedding's schedule: β_u = 1e−4 + (0.02 − 1e−4)·u/1000, ᾱ_τ = Π_{u ≤ τ}(1 − β_u). */
export function embeddingAlphaBar(): Float64Array {
  const T = 1000;
  const out = new Float64Array(T + 1);
  let acc = 1;
  for (let u = 0; u <= T; u++) out[u] = acc *= 1 - (1e-4 + ((0.02 - 1e-4) * u) / T);
  return out;
}

/**
 * The embedding's normalising constants: μ = mean_τ[ᾱ_τ + (1 − ᾱ_τ)/v], σ = √(mean_τ[ᾱ_τ + (1 − ᾱ_τ)/v²] − μ²)
 * over τ = 0 … 1000 (v = 8: 0.365952, 0.390864).
 */
export function timeEmbeddingConstants(vocab: number): { mu: number; sigma: number } {
  const ab = embeddingAlphaBar();
  let m1 = 0;
  let m2 = 0;
  for (const a of ab) {
    m1 += a + (1 - a) / vocab;
    m2 += a + (1 - a) / (vocab * vocab);
  }
  m1 /= ab.length;
  m2 /= ab.length;
  return { mu: m1, sigma: Math.sqrt(m2 - m1 * m1) };
}

/**
 * τ = ⌊(t/T)·1000⌋ clamped to 0 … 1000: the embedding's index for a time fraction, computed in
 * float32 as PyTorch and ONNX do (in float64, t/T = i/200 lands just below 5i and gives 5i − 1).
 */
export function embeddingIndex(tOverT: number): number {
  return Math.min(1000, Math.max(0, Math.floor(Math.fround(Math.fround(tOverT) * 1000))));
}
