import { OnnxGraphBuilder } from '../images/onnx/graphBuilder.ts';
import { ParamError } from '../core/errors.ts';
import {
  GROUP_NORM_EPS, imageUnetParamShapes, resBlocks, timeFrequencies, validateImageUnetConfig,
  type ImageUnetConfig, type NamedParams,
} from './imageUnet.ts';

/** The graph name {@link imageUnetToOnnx} writes. */
export const IMAGE_UNET_GRAPH_NAME = 'hierdiff-image-unet';

/**
 * The image U-Net of imageUnet.ts as an ONNX model (opset 17) in guided-diffusion's interface, so
 * that the image experiment runs it like an exported guided-diffusion model: inputs `x` float32
 * [N, C, S, S] and `timesteps` float32 [N] (original 0-based step indices), output `eps` float32
 * [N, C, S, S] (ε-prediction, fixed variance).
 *
 * Ops: Conv (3×3, pads 1; 1×1 for skips), Gemm (transB) for linear layers, SiLU = x·Sigmoid(x),
 * GroupNorm = Reshape [N, G, −1] → InstanceNormalization (unit scale, zero bias) → Reshape back →
 * Mul γ → Add β, AveragePool 2×2, Resize ×2 (nearest, asymmetric, floor: each pixel repeated),
 * the sinusoidal embedding as Mul → Cos, Sin → Concat.
 *
 * Metadata: `model` = 'image-unet', `prediction` = 'epsilon', `variance` = 'fixed', `schedule`
 * and `steps` as given, `config` (the JSON config).
 */
export function imageUnetToOnnx(params: NamedParams, config: ImageUnetConfig, diffusion: { schedule: string; originalSteps: number }): Uint8Array {
  validateImageUnetConfig(config);
  for (const [name, shape] of imageUnetParamShapes(config)) {
    const p = params[name];
    if (!p || p.shape.join(',') !== shape.join(',') || p.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new ParamError('params', `parameter ${name} is missing or not of shape [${shape.join(', ')}]`);
    }
  }
  const { inChannels: C, imageSize: S, channels: ch, groups, timeDim } = config;
  const K = ch.length;
  const g = new OnnxGraphBuilder(IMAGE_UNET_GRAPH_NAME, { opset: 17 });
  const meta = { model: 'image-unet', prediction: 'epsilon', variance: 'fixed', schedule: diffusion.schedule, steps: String(diffusion.originalSteps), config: JSON.stringify(config) };
  for (const [k, v] of Object.entries(meta)) g.metadata(k, v);
  g.input('x', 'float32', ['N', C, S, S]).input('timesteps', 'float32', ['N']).output('eps', 'float32', ['N', C, S, S]);

  let counter = 0;
  const op = (type: string, inputs: string[], attrs: Record<string, number | number[] | string> = {}, out?: string) => {
    const name = out ?? `${type.toLowerCase()}_${counter++}`;
    g.node(type, inputs, [name], attrs);
    return name;
  };
  const param = (name: string, dims?: number[]) => {
    g.initializer(name, params[name].data, dims ?? params[name].shape);
    return name;
  };
  const ints = (name: string, values: number[]) => {
    g.initializer(name, BigInt64Array.from(values, BigInt), [values.length]);
    return name;
  };
  const silu = (h: string) => op('Mul', [h, op('Sigmoid', [h])]);
  g.initializer('gn_scale', new Float32Array(groups).fill(1), [groups]);
  g.initializer('gn_bias', new Float32Array(groups), [groups]);
  ints('gn_shape', [0, groups, -1]);
  const groupNorm = (h: string, prefix: string, c: number) => {
    const normed = op('InstanceNormalization', [op('Reshape', [h, 'gn_shape']), 'gn_scale', 'gn_bias'], { epsilon: GROUP_NORM_EPS });
    const back = op('Reshape', [normed, op('Shape', [h])]);
    return op('Add', [op('Mul', [back, param(`${prefix}.weight`, [c, 1, 1])]), param(`${prefix}.bias`, [c, 1, 1])]);
  };
  const conv3 = (h: string, prefix: string) => op('Conv', [h, param(`${prefix}.weight`), param(`${prefix}.bias`)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const gemm = (h: string, prefix: string) => op('Gemm', [h, param(`${prefix}.weight`), param(`${prefix}.bias`)], { transB: 1 });

  // 1. Time embedding.
  g.initializer('freqs', Float32Array.from(timeFrequencies(timeDim)), [1, timeDim / 2]);
  ints('axis1', [1]);
  const arg = op('Mul', [op('Unsqueeze', ['timesteps', 'axis1']), 'freqs']);
  const e = op('Concat', [op('Cos', [arg]), op('Sin', [arg])], { axis: 1 });
  const tact = silu(gemm(silu(gemm(e, 'time.0')), 'time.1'));
  ints('axes23', [2, 3]);

  const block = (prefix: string, h: string, cin: number, cout: number) => {
    let a = conv3(silu(groupNorm(h, `${prefix}.norm1`, cin)), `${prefix}.conv1`);
    a = op('Add', [a, op('Unsqueeze', [gemm(tact, `${prefix}.emb`), 'axes23'])]);
    a = conv3(silu(groupNorm(a, `${prefix}.norm2`, cout)), `${prefix}.conv2`);
    const skip = cin === cout ? h : op('Conv', [h, param(`${prefix}.skip.weight`), param(`${prefix}.skip.bias`)], { kernel_shape: [1, 1] });
    return op('Add', [skip, a]);
  };
  g.initializer('up_scales', Float32Array.of(1, 1, 2, 2), [4]);
  const blocks = resBlocks(config);
  let b = 0;
  let h = conv3('x', 'input');
  const skips: string[] = [];
  for (let i = 0; i < K; i++, b++) {
    h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
    skips.push(h);
    if (i < K - 1) h = op('AveragePool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
  }
  h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
  b++;
  for (let j = 0; j < K; j++, b++) {
    const i = K - 1 - j;
    h = block(blocks[b].prefix, op('Concat', [h, skips[i]], { axis: 1 }), blocks[b].cin, blocks[b].cout);
    if (i > 0) h = op('Resize', [h, '', 'up_scales'], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  }
  const out = silu(groupNorm(h, 'out.norm', ch[0]));
  op('Conv', [out, param('out.conv.weight'), param('out.conv.bias')], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'eps');
  return g.toBytes();
}
