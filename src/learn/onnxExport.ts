import { OnnxGraphBuilder } from '../nn/graphBuilder.ts';
import {
  embeddingAlphaBar, LAYER_NORM_EPS, timeEmbeddingConstants,
  type BpUnetConfig, type BpUnetParams, type Param,
} from './bpUnet.ts';
import { bpUnetLength, checkBpUnetParams } from './reference.ts';

/** The graph name {@link bpUnetToOnnx} writes. */
export const BPUNET_GRAPH_NAME = 'hierdiff-bpunet';

/** ONNX `Cast` target for int64 (TensorProto.DataType.INT64). */
const INT64 = 7;

/**
 * bpUNet as an ONNX model (opset 17, IR 8): a model trained here, runnable by onnxruntime and so
 * evaluated exactly like one trained elsewhere (`OnnxRhmDenoiser`, onnxDenoiser.ts).
 *
 * Inputs `x` float32 [N, v, d] (one-hot, channel-major; a masked token an all-zero column) and
 * `t` float32 [N] (t/T); output `logits` float32 [N, v, d]. The graph follows bpUnet.ts's doc
 * comment:
 * - τ = Cast_int64(Clip(Floor(t·1000), 0, 1000)) with t·1000 in float32 like PyTorch (see
 *   `referenceTimeIndex`), ᾱ_τ = Gather(float32 table of the 1001 ᾱ values, τ)
 *   (uniform only: the mask graph never reads `t`, though it keeps the input for one interface);
 * - u = ᾱ_τ·x + (1 − ᾱ_τ)/v (uniform) or x + (1 − ReduceSum_b x)/v (mask); h_0 = (u − μ)·(1/σ);
 * - each convolution is an ONNX Conv / ConvTranspose (kernel [s], strides [s], no bias, PyTorch's
 *   weight layouts are ONNX's) whose weights are pre-divided by the scaling constant (√fan_in, or
 *   2W for the readout) in float64 and rounded once: the same as dividing after to float32
 *   rounding, and one node fewer per layer;
 * - channel LayerNorm = Transpose to N×L×C, LayerNormalization(axis −1, eps 1e−5), Transpose back;
 * - GELU = 0.5·x·(1 + Erf(x·(1/√2))) (opset 17 has no Gelu op).
 *
 * Model metadata_props: `model` = 'bpunet', `process`, `vocab`, `length` (d), `tuple`, `depth`,
 * `width` (decimal strings); `OnnxRhmDenoiser` reads `process`, `vocab` and `length`.
 *
 * @returns the serialised ModelProto. Throws ParamError on a bad config or params.
 */
export function bpUnetToOnnx(params: BpUnetParams, config: BpUnetConfig): Uint8Array {
  checkBpUnetParams(params, config);
  const { vocab: v, tuple: s, depth: L, width: W, process } = config;
  const d = bpUnetLength(config);
  const g = new OnnxGraphBuilder(BPUNET_GRAPH_NAME, { opset: 17 });
  for (const [key, value] of Object.entries({ model: 'bpunet', process, vocab: v, length: d, tuple: s, depth: L, width: W })) {
    g.metadata(key, String(value));
  }
  g.input('x', 'float32', ['N', v, d]).input('t', 'float32', ['N']).output('logits', 'float32', ['N', v, d]);

  let counter = 0;
  const fresh = (prefix: string) => `${prefix}_${counter++}`;
  const scalar = (name: string, value: number) => {
    g.initializer(name, Float32Array.of(value), []);
    return name;
  };
  /** Adds a one-output node and returns that output's name. */
  const op = (type: string, inputs: string[], attrs: Record<string, number | number[]> = {}) => {
    const out = fresh(type.toLowerCase());
    g.node(type, inputs, [out], attrs);
    return out;
  };
  const weight = (name: string, p: Param, divisor: number) => {
    g.initializer(name, Float32Array.from(p.data, (w) => w / divisor), p.shape);
    return name;
  };

  const one = scalar('one', 1);
  const half = scalar('half', 0.5);
  const invSqrt2 = scalar('inv_sqrt2', Math.SQRT1_2);
  const gelu = (h: string) => op('Mul', [op('Mul', [h, half]), op('Add', [one, op('Erf', [op('Mul', [h, invSqrt2])])])]);
  const layerNorm = (h: string, prefix: string) => {
    g.initializer(`${prefix}.norm.weight`, params[`${prefix}.norm.weight`].data, [W]);
    g.initializer(`${prefix}.norm.bias`, params[`${prefix}.norm.bias`].data, [W]);
    const nlc = op('Transpose', [h], { perm: [0, 2, 1] });
    const normed = op('LayerNormalization', [nlc, `${prefix}.norm.weight`, `${prefix}.norm.bias`], { axis: -1, epsilon: LAYER_NORM_EPS });
    return op('Transpose', [normed], { perm: [0, 2, 1] });
  };

  // 1. Time embedding.
  const invV = scalar('inv_vocab', 1 / v);
  let u: string;
  if (process === 'uniform') {
    g.initializer('alpha_bar', Float32Array.from(embeddingAlphaBar()), [1001]);
    const tau = op('Cast', [op('Clip', [op('Floor', [op('Mul', ['t', scalar('steps', 1000)])]), scalar('tau_min', 0), 'steps'])], { to: INT64 });
    g.initializer('unsqueeze_axes', BigInt64Array.of(1n, 2n), [2]);
    const ab = op('Unsqueeze', [op('Gather', ['alpha_bar', tau], { axis: 0 }), 'unsqueeze_axes']); // N×1×1
    u = op('Add', [op('Mul', [ab, 'x']), op('Mul', [op('Sub', [one, ab]), invV])]);
  } else {
    g.initializer('channel_axis', BigInt64Array.of(1n), [1]);
    const mass = op('ReduceSum', ['x', 'channel_axis'], { keepdims: 1 }); // N×1×d
    u = op('Add', ['x', op('Mul', [op('Sub', [one, mass]), invV])]);
  }
  const { mu, sigma } = timeEmbeddingConstants(v);
  const h0 = op('Mul', [op('Sub', [u, scalar('mu', mu)]), scalar('inv_sigma', 1 / sigma)]);

  // 2. e = GELU(conv1×1(h_0)/√v).
  const conv = (h: string, w: string, k: number) => op('Conv', [h, w], { kernel_shape: [k], strides: [k] });
  const e = gelu(conv(h0, weight('embed.weight', params['embed.weight'], Math.sqrt(v)), 1));

  // 3. Down blocks; their outputs are the skips.
  let h = e;
  const skips: string[] = [];
  for (let i = 0; i < L; i++) {
    const name = `down.${i}.conv.weight`;
    h = gelu(layerNorm(conv(h, weight(name, params[name], Math.sqrt(s * W)), s), `down.${i}`));
    skips.push(h);
  }
  // 4. Up blocks; the first concatenates the bottleneck (skips[L − 1] = h) with itself.
  for (let j = 0; j < L; j++) {
    const name = `up.${j}.conv.weight`;
    const cat = op('Concat', [h, skips[L - 1 - j]], { axis: 1 });
    const z = op('ConvTranspose', [cat, weight(name, params[name], Math.sqrt(s * 2 * W))], { kernel_shape: [s], strides: [s] });
    h = gelu(layerNorm(z, `up.${j}`));
  }
  // 5. Readout, divided by fan_in = 2W.
  const cat = op('Concat', [h, e], { axis: 1 });
  g.node('Conv', [cat, weight('readout.weight', params['readout.weight'], 2 * W)], ['logits'], { kernel_shape: [1], strides: [1] });
  return g.toBytes();
}
