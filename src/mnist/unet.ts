import { checkInt, ParamError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import { countParams, initNamedParams, type NamedParams } from '../nn/params.ts';

/**
 * A small image diffusion U-Net in guided-diffusion's style (the MNIST model): its config,
 * parameter names and shapes, shared by the one graph (unetGraph.ts) that is both trained
 * (unetTrain.ts) and exported (unetOnnx.ts), and by the checkpoints. Weights use PyTorch's layouts (conv [out, in, kh, kw], linear [out, in]).
 *
 * Input x: N × C × S × S (C = `inChannels`, S = `imageSize`), timesteps: N values of the original
 * 0-based step index (0 … 999, guided-diffusion's convention). Output: the predicted noise ε,
 * N × C × S × S (fixed variance: no learned-range channels).
 *
 * 1. Time embedding: e = [cos(t·f_i), sin(t·f_i)], f_i = exp(−ln(10⁴)·i/(D/2)), i < D/2 (D = `timeDim`);
 *    temb = W₂·SiLU(W₁·e + b₁) + b₂ (`time.0`, `time.1`, width `embDim`).
 * 2. h = conv3×3(x) (`input`), channels c₀.
 * 3. Down, level i = 0 … K−1 (K = channels.length): h = ResBlock(h) (`down.i`, c_{i−1} → c_i, c_{−1} = c₀);
 *    the output is skip i; then, except at the last level, h = AvgPool2×2(h).
 * 4. Middle: h = ResBlock(h) (`mid`, c_{K−1} → c_{K−1}).
 * 5. Up, j = 0 … K−1 (level i = K−1−j): h = ResBlock(concat_channels(h, skip i)) (`up.j`,
 *    c_{i+1} + c_i → c_i, c_K = c_{K−1}); then, except at level 0, h = Upsample2×(h) (nearest).
 * 6. ε = conv3×3(SiLU(GroupNorm(h))) (`out.norm`, `out.conv`, c₀ → C).
 *
 * ResBlock(cin → cout), prefix P: a = conv3×3(SiLU(GN(x))) (`P.norm1`, `P.conv1`);
 * a += Linear(SiLU(temb)) per channel (`P.emb`); a = conv3×3(SiLU(GN(a))) (`P.norm2`, `P.conv2`);
 * out = skip(x) + a, skip the identity when cin = cout, else a 1×1 conv (`P.skip`).
 * GroupNorm has `groups` groups, eps 1e−5, affine; 3×3 convolutions pad by 1; all have biases.
 */
export interface ImageUnetConfig {
  /** Image channels C (1 for MNIST). */
  inChannels: number;
  /** Side S of the square images; divisible by 2^(levels − 1). */
  imageSize: number;
  /** Channels per level c₀ … c_{K−1} (resolution S, S/2, …). */
  channels: number[];
  /** GroupNorm groups; divides every channel count. */
  groups: number;
  /** Sinusoidal embedding size D (even). */
  timeDim: number;
  /** Time MLP width. */
  embDim: number;
}

/** The shipped MNIST model's architecture (the rest of its recipe: MNIST_RECIPE in train.ts). */
export const MNIST_UNET_CONFIG: ImageUnetConfig = { inChannels: 1, imageSize: 32, channels: [16, 32, 64, 128], groups: 8, timeDim: 32, embDim: 128 };

export const GROUP_NORM_EPS = 1e-5;

export type { NamedParams } from '../nn/params.ts';
export { countParams, initNamedParams };

/** Checks a config (ParamError naming the field). */
export function validateImageUnetConfig(c: ImageUnetConfig): ImageUnetConfig {
  checkInt('inChannels', c.inChannels, 1, 64);
  checkInt('imageSize', c.imageSize, 2, 1024);
  if (!Array.isArray(c.channels) || c.channels.length < 1 || c.channels.length > 6) throw new ParamError('channels', 'expected 1 to 6 channel counts');
  checkInt('groups', c.groups, 1, 1024);
  for (const ch of c.channels) {
    checkInt('channels', ch, 1, 4096);
    if (ch % c.groups !== 0) throw new ParamError('channels', `channel count ${ch} is not divisible by groups ${c.groups}`);
  }
  if (c.imageSize % 2 ** (c.channels.length - 1) !== 0) throw new ParamError('imageSize', `image size ${c.imageSize} is not divisible by 2^${c.channels.length - 1}`);
  checkInt('timeDim', c.timeDim, 2, 4096);
  if (c.timeDim % 2 !== 0) throw new ParamError('timeDim', `time embedding size ${c.timeDim} is not even`);
  checkInt('embDim', c.embDim, 1, 8192);
  return c;
}

/** One residual block's input and output channels, by prefix, in forward order. */
export function resBlocks(c: ImageUnetConfig): { prefix: string; cin: number; cout: number }[] {
  const ch = c.channels;
  const K = ch.length;
  const out: { prefix: string; cin: number; cout: number }[] = [];
  for (let i = 0; i < K; i++) out.push({ prefix: `down.${i}`, cin: i === 0 ? ch[0] : ch[i - 1], cout: ch[i] });
  out.push({ prefix: 'mid', cin: ch[K - 1], cout: ch[K - 1] });
  for (let j = 0; j < K; j++) {
    const i = K - 1 - j;
    out.push({ prefix: `up.${j}`, cin: (i === K - 1 ? ch[K - 1] : ch[i + 1]) + ch[i], cout: ch[i] });
  }
  return out;
}

/** Names and shapes of every parameter, in a fixed order (the checkpoint order). */
export function imageUnetParamShapes(c: ImageUnetConfig): [string, number[]][] {
  validateImageUnetConfig(c);
  const { inChannels: C, channels: ch, timeDim: D, embDim: E } = c;
  const s: [string, number[]][] = [
    ['time.0.weight', [E, D]],
    ['time.0.bias', [E]],
    ['time.1.weight', [E, E]],
    ['time.1.bias', [E]],
    ['input.weight', [ch[0], C, 3, 3]],
    ['input.bias', [ch[0]]],
  ];
  for (const { prefix: p, cin, cout } of resBlocks(c)) {
    s.push(
      [`${p}.norm1.weight`, [cin]],
      [`${p}.norm1.bias`, [cin]],
      [`${p}.conv1.weight`, [cout, cin, 3, 3]],
      [`${p}.conv1.bias`, [cout]],
      [`${p}.emb.weight`, [cout, E]],
      [`${p}.emb.bias`, [cout]],
      [`${p}.norm2.weight`, [cout]],
      [`${p}.norm2.bias`, [cout]],
      [`${p}.conv2.weight`, [cout, cout, 3, 3]],
      [`${p}.conv2.bias`, [cout]],
    );
    if (cin !== cout) s.push([`${p}.skip.weight`, [cout, cin, 1, 1]], [`${p}.skip.bias`, [cout]]);
  }
  s.push(['out.norm.weight', [ch[0]]], ['out.norm.bias', [ch[0]]], ['out.conv.weight', [C, ch[0], 3, 3]], ['out.conv.bias', [C]]);
  return s;
}

/**
 * The U-Net's initial parameters (nn/params.ts `initNamedParams`: weights N(0, 1/(3·fan_in)),
 * biases 0, norm weights 1); the second convolution of every block and the output convolution
 * start at zero, as guided-diffusion's `zero_module` does, so that each block starts as the
 * identity.
 */
export function initImageUnet(c: ImageUnetConfig, rng: Rng): NamedParams {
  return initNamedParams(imageUnetParamShapes(c), rng, (name) => name.endsWith('.conv2.weight') || name === 'out.conv.weight');
}

/** The frequencies f_i = exp(−ln(10⁴)·i/(D/2)), i < D/2, of the sinusoidal embedding (float64). */
export function timeFrequencies(timeDim: number): Float64Array {
  const half = timeDim / 2;
  return Float64Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
}
