import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { ParamError } from '../../core/errors.ts';
import { GROUP_NORM_EPS, resBlocks, timeFrequencies, validateImageUnetConfig, type ImageUnetConfig } from '../imageUnet.ts';
import type { Tf } from './backend.ts';
import { avgPool2, conv1x1Bias, conv3x3, groupNorm, linear, silu, upsample2 } from './convLayers.ts';

/** Tensors by parameter name (tf.Variables while training, plain tensors otherwise). */
export type TensorMap = Record<string, Tensor>;

/**
 * The image U-Net of imageUnet.ts on tfjs. `x`: N × S × S × C (NHWC, the tfjs layout; the ONNX
 * model takes NCHW); `timesteps`: the N original 0-based step indices. Returns ε̂, N × S × S × C.
 */
export function imageUnetForward(tf: Tf, params: TensorMap, config: ImageUnetConfig, x: Tensor4D, timesteps: ArrayLike<number>): Tensor4D {
  validateImageUnetConfig(config);
  const { inChannels: C, imageSize: S, channels: ch, groups, timeDim } = config;
  const n = x.shape[0];
  if (x.rank !== 4 || x.shape[1] !== S || x.shape[2] !== S || x.shape[3] !== C) {
    throw new ParamError('x', `network input has shape [${x.shape.join(', ')}], expected [N, ${S}, ${S}, ${C}]`);
  }
  if (timesteps.length !== n) throw new ParamError('timesteps', `${timesteps.length} timesteps for ${n} inputs`);
  const p = (name: string) => {
    const t = params[name];
    if (!t) throw new ParamError('params', `parameter ${name} is missing`);
    return t;
  };
  const K = ch.length;
  return tf.tidy(() => {
    // 1. Sinusoidal embedding, computed on the host in float64 then rounded (as ONNX's float32 graph does it).
    const freqs = timeFrequencies(timeDim);
    const half = timeDim / 2;
    const e = new Float32Array(n * timeDim);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < half; k++) {
        const arg = Math.fround(Math.fround(timesteps[i]) * Math.fround(freqs[k]));
        e[i * timeDim + k] = Math.cos(arg);
        e[i * timeDim + half + k] = Math.sin(arg);
      }
    }
    const temb = linear(tf, silu(tf, linear(tf, tf.tensor2d(e, [n, timeDim]), p('time.0.weight'), p('time.0.bias') as Tensor1D)), p('time.1.weight'), p('time.1.bias') as Tensor1D);
    const tact = silu(tf, temb);
    const block = (prefix: string, h: Tensor4D, cin: number, cout: number): Tensor4D => {
      let a = conv3x3(tf, silu(tf, groupNorm(tf, h, p(`${prefix}.norm1.weight`) as Tensor1D, p(`${prefix}.norm1.bias`) as Tensor1D, groups, GROUP_NORM_EPS)), p(`${prefix}.conv1.weight`), p(`${prefix}.conv1.bias`) as Tensor1D);
      const shift = linear(tf, tact, p(`${prefix}.emb.weight`), p(`${prefix}.emb.bias`) as Tensor1D);
      a = tf.add(a, tf.reshape(shift, [n, 1, 1, cout])) as Tensor4D;
      a = conv3x3(tf, silu(tf, groupNorm(tf, a, p(`${prefix}.norm2.weight`) as Tensor1D, p(`${prefix}.norm2.bias`) as Tensor1D, groups, GROUP_NORM_EPS)), p(`${prefix}.conv2.weight`), p(`${prefix}.conv2.bias`) as Tensor1D);
      const skip = cin === cout ? h : conv1x1Bias(tf, h, p(`${prefix}.skip.weight`), p(`${prefix}.skip.bias`) as Tensor1D);
      return tf.add(skip, a) as Tensor4D;
    };
    const blocks = resBlocks(config);
    let h = conv3x3(tf, x, p('input.weight'), p('input.bias') as Tensor1D);
    const skips: Tensor4D[] = [];
    let b = 0;
    for (let i = 0; i < K; i++, b++) {
      h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
      skips.push(h);
      if (i < K - 1) h = avgPool2(tf, h);
    }
    h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
    b++;
    for (let j = 0; j < K; j++, b++) {
      const i = K - 1 - j;
      h = block(blocks[b].prefix, tf.concat([h, skips[i]], 3) as Tensor4D, blocks[b].cin, blocks[b].cout);
      if (i > 0) h = upsample2(tf, h);
    }
    const out = silu(tf, groupNorm(tf, h, p('out.norm.weight') as Tensor1D, p('out.norm.bias') as Tensor1D, groups, GROUP_NORM_EPS));
    return conv3x3(tf, out, p('out.conv.weight'), p('out.conv.bias') as Tensor1D);
  });
}
