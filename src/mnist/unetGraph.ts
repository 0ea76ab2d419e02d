import { ParamError } from '../core/errors.ts';
import type { Graph, Value } from '../nn/graph.ts';
import { GROUP_NORM_EPS, resBlocks, timeFrequencies, validateImageUnetConfig, type ImageUnetConfig } from './unet.ts';

/**
 * The image U-Net of unet.ts as an nn/ graph: the one forward that training (unetTrain.ts,
 * parameters as graph inputs, fixed batch) and the ONNX export (unetOnnx.ts, parameters as
 * initializers, symbolic batch 'N') both emit. Follows unet.ts's doc comment step by step.
 *
 * `params`: a Value per parameter name of `imageUnetParamShapes(config)` (PyTorch layouts);
 * `x`: N × C × S × S; `timesteps`: float32 [N], the original 0-based step indices (0 … 999).
 * Returns ε̂, N × C × S × S.
 *
 * The sinusoidal embedding is computed in the graph in float32: arg = t·f_i with f_i rounded to
 * float32 once (a constant [1, D/2]), then Cos and Sin — the arithmetic of the shipped models.
 * GroupNorm: nn/graph.ts `groupNorm` (eps 1e−5); SiLU = x·σ(x); downsampling AveragePool 2×2;
 * upsampling nearest (each pixel repeated 2×2).
 */
export function imageUnetGraph(g: Graph, params: Record<string, Value>, config: ImageUnetConfig, x: Value, timesteps: Value): Value {
  validateImageUnetConfig(config);
  const { inChannels: C, imageSize: S, channels: ch, groups, timeDim } = config;
  if (x.shape.length !== 4 || x.shape[1] !== C || x.shape[2] !== S || x.shape[3] !== S) {
    throw new ParamError('x', `network input has shape [${x.shape.join(', ')}], expected [N, ${C}, ${S}, ${S}]`);
  }
  if (timesteps.shape.length !== 1 || timesteps.shape[0] !== x.shape[0]) throw new ParamError('timesteps', `timesteps of shape [${timesteps.shape.join(', ')}] for inputs [${x.shape.join(', ')}]`);
  const p = (name: string): Value => {
    const v = params[name];
    if (!v) throw new ParamError('params', `parameter ${name} is missing`);
    return v;
  };
  const silu = (h: Value) => g.silu(h);
  const norm = (h: Value, prefix: string) => g.groupNorm(h, p(`${prefix}.weight`), p(`${prefix}.bias`), groups, GROUP_NORM_EPS);
  const conv3 = (h: Value, prefix: string) => g.conv(h, p(`${prefix}.weight`), p(`${prefix}.bias`), { pads: [1, 1] });
  const linear = (h: Value, prefix: string) => g.linear(h, p(`${prefix}.weight`), p(`${prefix}.bias`));

  // 1. Time embedding e = [cos(t·f), sin(t·f)], temb = W₂·SiLU(W₁·e + b₁) + b₂; the blocks read SiLU(temb).
  const freqs = g.constant(Float32Array.from(timeFrequencies(timeDim)), [1, timeDim / 2]);
  const arg = g.mul(g.unsqueeze(timesteps, [1]), freqs);
  const e = g.concat([g.cos(arg), g.sin(arg)], 1);
  const tact = silu(linear(silu(linear(e, 'time.0')), 'time.1'));

  const block = (prefix: string, h: Value, cin: number, cout: number): Value => {
    let a = conv3(silu(norm(h, `${prefix}.norm1`)), `${prefix}.conv1`);
    a = g.add(a, g.unsqueeze(linear(tact, `${prefix}.emb`), [2, 3])); // a shift per channel
    a = conv3(silu(norm(a, `${prefix}.norm2`)), `${prefix}.conv2`);
    const skip = cin === cout ? h : g.conv(h, p(`${prefix}.skip.weight`), p(`${prefix}.skip.bias`));
    return g.add(skip, a);
  };

  const K = ch.length;
  const blocks = resBlocks(config);
  let b = 0;
  // 2–3. Input convolution, then the down path; each level's output is a skip.
  let h = conv3(x, 'input');
  const skips: Value[] = [];
  for (let i = 0; i < K; i++, b++) {
    h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
    skips.push(h);
    if (i < K - 1) h = g.avgPool(h, 2);
  }
  // 4. Middle.
  h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
  b++;
  // 5. Up path: concatenate the skip along channels, then upsample except at level 0.
  for (let j = 0; j < K; j++, b++) {
    const i = K - 1 - j;
    h = block(blocks[b].prefix, g.concat([h, skips[i]], 1), blocks[b].cin, blocks[b].cout);
    if (i > 0) h = g.upsample(h, 2);
  }
  // 6. Output head.
  return conv3(silu(norm(h, 'out.norm')), 'out.conv');
}
