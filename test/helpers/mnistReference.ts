/**
 * A float64 reference of the MNIST image models (the U-Net of src/mnist/unet.ts and the
 * classifier of src/mnist/classifier.ts) and of their layers, written directly from their
 * doc comments with plain loops, no graph: the oracle that the nn/ graphs (float32, onnxruntime)
 * and their gradients are checked against. Gradients of the reference are taken by central
 * finite differences in float64 ({@link directionalDerivative}).
 *
 * Tensors are row-major, NCHW for images; weights in PyTorch's layouts.
 */
import { classifierConvs, type DigitClassifierConfig } from '../../src/mnist/classifier.ts';
import { GROUP_NORM_EPS, resBlocks, timeFrequencies, type ImageUnetConfig } from '../../src/mnist/unet.ts';
import type { NamedParams } from '../../src/nn/params.ts';

/**
 * float32 network (onnxruntime) against the float64 reference: each output is a chain of a few
 * hundred to a few thousand float32 products and sums, each adding ≈ 6e−8 relative error, so the
 * error stays near 1e−6 of the output's scale; 1e−4 leaves a wide margin while any layout, index
 * or formula error is O(1).
 */
export const FLOAT32_NETWORK = 1e-4;

/**
 * Step of the float64 central differences: exact to ≈ h²·f‴ ≈ 1e−8 relative, plus round-off
 * 1e−16/h ≈ 1e−12, both negligible next to FLOAT32_NETWORK.
 */
export const FD_STEP = 1e-4;

export interface T64 {
  shape: number[];
  data: Float64Array;
}

export type Params64 = Record<string, T64>;

export function t64(shape: number[], data: ArrayLike<number>): T64 {
  return { shape: [...shape], data: Float64Array.from(data) };
}

export function toParams64(p: NamedParams): Params64 {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, t64(v.shape, v.data)]));
}

const map = (x: T64, f: (v: number) => number): T64 => ({ shape: [...x.shape], data: x.data.map(f) });

/** PyTorch conv2d, stride 1, zero padding `pad`: x [N, I, H, W], w [O, I, k, k], b [O] → [N, O, H + 2p − k + 1, …]. */
export function conv2d(x: T64, w: T64, b: T64 | null, pad: number): T64 {
  const [N, I, H, W] = x.shape;
  const [O, , K] = w.shape;
  const Ho = H + 2 * pad - K + 1;
  const Wo = W + 2 * pad - K + 1;
  const out = new Float64Array(N * O * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let y = 0; y < Ho; y++)
        for (let xx = 0; xx < Wo; xx++) {
          let s = b ? b.data[o] : 0;
          for (let i = 0; i < I; i++)
            for (let ky = 0; ky < K; ky++) {
              const sy = y + ky - pad;
              if (sy < 0 || sy >= H) continue;
              for (let kx = 0; kx < K; kx++) {
                const sx = xx + kx - pad;
                if (sx >= 0 && sx < W) s += x.data[((n * I + i) * H + sy) * W + sx] * w.data[((o * I + i) * K + ky) * K + kx];
              }
            }
          out[((n * O + o) * Ho + y) * Wo + xx] = s;
        }
  return { shape: [N, O, Ho, Wo], data: out };
}

/** PyTorch GroupNorm(G, C) on N × C × …: biased variance, then γ ⊙ x̂ + β per channel. */
export function groupNorm(x: T64, gamma: T64, beta: T64, groups: number, eps = GROUP_NORM_EPS): T64 {
  const [N, C] = x.shape;
  const P = x.data.length / (N * C);
  const cg = C / groups;
  const out = new Float64Array(x.data.length);
  for (let n = 0; n < N; n++)
    for (let g = 0; g < groups; g++) {
      const from = (n * C + g * cg) * P;
      const to = from + cg * P;
      let mean = 0;
      for (let i = from; i < to; i++) mean += x.data[i];
      mean /= cg * P;
      let v = 0;
      for (let i = from; i < to; i++) v += (x.data[i] - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / (cg * P) + eps);
      for (let i = from; i < to; i++) {
        const c = Math.floor(i / P) % C;
        out[i] = gamma.data[c] * (x.data[i] - mean) * rstd + beta.data[c];
      }
    }
  return { shape: [...x.shape], data: out };
}

export const silu = (x: T64): T64 => map(x, (v) => v / (1 + Math.exp(-v)));
export const relu = (x: T64): T64 => map(x, (v) => Math.max(v, 0));

/** 2×2 average pooling, stride 2. */
export function avgPool2(x: T64): T64 {
  const [N, C, H, W] = x.shape;
  const out = new Float64Array((N * C * H * W) / 4);
  for (let nc = 0; nc < N * C; nc++)
    for (let y = 0; y < H / 2; y++)
      for (let xx = 0; xx < W / 2; xx++) {
        const at = (dy: number, dx: number) => x.data[(nc * H + 2 * y + dy) * W + 2 * xx + dx];
        out[(nc * (H / 2) + y) * (W / 2) + xx] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
      }
  return { shape: [N, C, H / 2, W / 2], data: out };
}

/** Nearest 2× upsampling: each pixel repeated 2 × 2. */
export function upsample2(x: T64): T64 {
  const [N, C, H, W] = x.shape;
  const out = new Float64Array(N * C * H * W * 4);
  for (let nc = 0; nc < N * C; nc++)
    for (let y = 0; y < 2 * H; y++)
      for (let xx = 0; xx < 2 * W; xx++) {
        out[(nc * 2 * H + y) * 2 * W + xx] = x.data[(nc * H + (y >> 1)) * W + (xx >> 1)];
      }
  return { shape: [N, C, 2 * H, 2 * W], data: out };
}

/** Concatenation along channels (axis 1) of N × C_i × … tensors. */
export function concatChannels(a: T64, b: T64): T64 {
  const N = a.shape[0];
  const sa = a.data.length / N;
  const sb = b.data.length / N;
  const out = new Float64Array(a.data.length + b.data.length);
  for (let n = 0; n < N; n++) {
    out.set(a.data.subarray(n * sa, (n + 1) * sa), n * (sa + sb));
    out.set(b.data.subarray(n * sb, (n + 1) * sb), n * (sa + sb) + sa);
  }
  return { shape: [N, a.shape[1] + b.shape[1], ...a.shape.slice(2)], data: out };
}

/** PyTorch Linear: x [N, I], w [O, I], b [O] → [N, O]. */
export function linear(x: T64, w: T64, b: T64): T64 {
  const [N, I] = x.shape;
  const O = w.shape[0];
  const out = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = b.data[o];
      for (let i = 0; i < I; i++) s += x.data[n * I + i] * w.data[o * I + i];
      out[n * O + o] = s;
    }
  return { shape: [N, O], data: out };
}

/** Elementwise a + b (same shapes). */
export function add(a: T64, b: T64): T64 {
  return { shape: [...a.shape], data: a.data.map((v, i) => v + b.data[i]) };
}

/** a [N, C, H, W] + s [N, C] broadcast over positions. */
export function addPerChannel(a: T64, s: T64): T64 {
  const P = a.shape[2] * a.shape[3];
  return { shape: [...a.shape], data: a.data.map((v, i) => v + s.data[Math.floor(i / P)]) };
}

/** Mean over the spatial axes: [N, C, H, W] → [N, C]. */
export function globalMean(x: T64): T64 {
  const [N, C, H, W] = x.shape;
  const out = new Float64Array(N * C);
  for (let i = 0; i < N * C; i++) {
    let s = 0;
    for (let p = 0; p < H * W; p++) s += x.data[i * H * W + p];
    out[i] = s / (H * W);
  }
  return { shape: [N, C], data: out };
}

/** Mean softmax cross-entropy of logits [N, K] against labels. */
export function crossEntropy(logits: T64, labels: ArrayLike<number>): number {
  const [N, K] = logits.shape;
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const row = logits.data.subarray(n * K, (n + 1) * K);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    loss += lse - row[labels[n]];
  }
  return loss / N;
}

/** The U-Net of unet.ts: x [N, C, S, S], timesteps N original steps → ε̂ [N, C, S, S]. */
export function imageUnetReference(p: Params64, config: ImageUnetConfig, x: T64, timesteps: ArrayLike<number>): T64 {
  const N = x.shape[0];
  const { channels: ch, groups, timeDim: D } = config;
  const half = D / 2;
  // The embedding's argument as the float32 graph forms it: t·f with f rounded to float32, one rounding.
  const freqs = timeFrequencies(D);
  const e = new Float64Array(N * D);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < half; k++) {
      const arg = Math.fround(Math.fround(timesteps[n]) * Math.fround(freqs[k]));
      e[n * D + k] = Math.cos(arg);
      e[n * D + half + k] = Math.sin(arg);
    }
  const lin = (h: T64, prefix: string) => linear(h, p[`${prefix}.weight`], p[`${prefix}.bias`]);
  const conv3 = (h: T64, prefix: string) => conv2d(h, p[`${prefix}.weight`], p[`${prefix}.bias`], 1);
  const norm = (h: T64, prefix: string) => groupNorm(h, p[`${prefix}.weight`], p[`${prefix}.bias`], groups);
  const tact = silu(lin(silu(lin({ shape: [N, D], data: e }, 'time.0')), 'time.1'));
  const block = (prefix: string, h: T64, cin: number, cout: number): T64 => {
    let a = conv3(silu(norm(h, `${prefix}.norm1`)), `${prefix}.conv1`);
    a = addPerChannel(a, lin(tact, `${prefix}.emb`));
    a = conv3(silu(norm(a, `${prefix}.norm2`)), `${prefix}.conv2`);
    return add(cin === cout ? h : conv2d(h, p[`${prefix}.skip.weight`], p[`${prefix}.skip.bias`], 0), a);
  };
  const K = ch.length;
  const blocks = resBlocks(config);
  let b = 0;
  let h = conv3(x, 'input');
  const skips: T64[] = [];
  for (let i = 0; i < K; i++, b++) {
    h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
    skips.push(h);
    if (i < K - 1) h = avgPool2(h);
  }
  h = block(blocks[b].prefix, h, blocks[b].cin, blocks[b].cout);
  b++;
  for (let j = 0; j < K; j++, b++) {
    const i = K - 1 - j;
    h = block(blocks[b].prefix, concatChannels(h, skips[i]), blocks[b].cin, blocks[b].cout);
    if (i > 0) h = upsample2(h);
  }
  return conv3(silu(norm(h, 'out.norm')), 'out.conv');
}

/** The classifier of classifier.ts: x [N, C, S, S] → logits [N, classes] and the stage outputs. */
export function digitClassifierReference(p: Params64, config: DigitClassifierConfig, x: T64): { logits: T64; stages: T64[] } {
  const stages: T64[] = [];
  const convs = classifierConvs(config);
  let h = x;
  for (let i = 0; i < convs.length; i++) {
    const { prefix, norm, stage } = convs[i];
    if (i > 0 && convs[i - 1].stage !== stage) h = avgPool2(h);
    h = relu(groupNorm(conv2d(h, p[`${prefix}.weight`], p[`${prefix}.bias`], 1), p[`${norm}.weight`], p[`${norm}.bias`], config.groups));
    if (i === convs.length - 1 || convs[i + 1].stage !== stage) stages.push(h);
  }
  return { logits: linear(globalMean(h), p['head.weight'], p['head.bias']), stages };
}

/** mean (ε̂ − ε)² of the reference U-Net. */
export function denoiserLossReference(p: Params64, config: ImageUnetConfig, x: T64, timesteps: ArrayLike<number>, eps: ArrayLike<number>): number {
  const out = imageUnetReference(p, config, x, timesteps).data;
  let s = 0;
  for (let i = 0; i < out.length; i++) s += (out[i] - eps[i]) ** 2;
  return s / out.length;
}

/**
 * The derivative of `f` at `inputs` along `u` (one direction per named input, the others fixed)
 * by a central difference with step {@link FD_STEP}, in float64.
 */
export function directionalDerivative(f: (inputs: Params64) => number, inputs: Params64, u: Record<string, ArrayLike<number>>): number {
  const moved = (sign: number): Params64 =>
    Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => {
        const d = u[k];
        return [k, d ? { shape: v.shape, data: v.data.map((x, i) => x + sign * FD_STEP * d[i]) } : v];
      }),
    );
  return (f(moved(1)) - f(moved(-1))) / (2 * FD_STEP);
}

/**
 * Checks a float32 gradient `g` against the float64 directional derivative `fd` along `u`:
 * returns |g·u − fd| and the allowed FLOAT32_NETWORK × (Σ|g_i·u_i| + |fd|) (+ 1e−12 for an exact
 * zero). Each float32 gradient entry carries the relative error of FLOAT32_NETWORK's reason, so
 * the scale is that of the sum's terms, not of g·u, which may cancel; a missing or wrong gradient
 * is off by O(1) of it.
 */
export function gradientError(g: ArrayLike<number>, u: ArrayLike<number>, fd: number): { error: number; allowed: number } {
  let dot = 0;
  let scale = 0;
  for (let i = 0; i < u.length; i++) {
    dot += g[i] * u[i];
    scale += Math.abs(g[i] * u[i]);
  }
  return { error: Math.abs(dot - fd), allowed: FLOAT32_NETWORK * (scale + Math.abs(fd)) + 1e-12 };
}

/** max |a − b| and the allowed FLOAT32_NETWORK × max |b|. */
export function outputError(a: ArrayLike<number>, b: ArrayLike<number>): { error: number; allowed: number } {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`);
  let error = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    error = Math.max(error, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { error, allowed: FLOAT32_NETWORK * scale };
}
