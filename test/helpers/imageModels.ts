/**
 * Small ONNX models built in TypeScript for the image tests and the image benchmark: an exact
 * denoiser for Gaussian data, a random-weight UNet-like denoiser, and a small conv classifier whose
 * stages are extra graph outputs (the probed layers).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '../../src/core/random.ts';
import type { ImageDiffusion } from '../../src/images/diffusion/imageDiffusion.ts';
import { OnnxGraphBuilder } from '../../src/nn/graphBuilder.ts';
import { gaussianEpsCoefficients } from './gaussianData.ts';

/** Weights ~ N(0, scale²/fanIn), seeded. */
function weights(n: number, fanIn: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  const sd = scale / Math.sqrt(fanIn);
  return Float32Array.from({ length: n }, () => sd * rng.normal());
}

const shape4 = (name: string) => [name, 1, 1, 1];

/**
 * The exact ε-predictor of x_0 ~ N(μ, s²) per pixel: ε̂ = a[t]·x + b[t], with a, b tables indexed
 * by the model's (original) timestep, so the model is called as guided-diffusion's would be. With
 * `learnedValue` it also outputs C channels of that constant variance value (2C outputs).
 */
export function gaussianDenoiserModel(d: ImageDiffusion, mu: number, s: number, o: { channels: number; size: number; learnedValue?: number }): Uint8Array {
  const { a, b } = gaussianEpsCoefficients(d, mu, s);
  const A = new Float32Array(d.originalSteps);
  const B = new Float32Array(d.originalSteps);
  for (let k = 0; k < d.steps; k++) {
    A[d.timestepMap[k]] = a[k];
    B[d.timestepMap[k]] = b[k];
  }
  const learned = o.learnedValue !== undefined;
  const g = new OnnxGraphBuilder('gaussian-denoiser')
    .input('x', 'float32', ['N', o.channels, o.size, o.size])
    .input('timesteps', 'int64', ['N'])
    .output('out', 'float32', ['N', learned ? 2 * o.channels : o.channels, o.size, o.size])
    .initializer('A', A, [d.originalSteps])
    .initializer('B', B, [d.originalSteps])
    .initializer('shape', BigInt64Array.from(shape4('-1').map((v) => BigInt(v))), [4])
    .node('Gather', ['A', 'timesteps'], ['a'])
    .node('Gather', ['B', 'timesteps'], ['b'])
    .node('Reshape', ['a', 'shape'], ['a4'])
    .node('Reshape', ['b', 'shape'], ['b4'])
    .node('Mul', ['x', 'a4'], ['ax'])
    .node('Add', ['ax', 'b4'], [learned ? 'eps' : 'out']);
  if (learned) {
    g.initializer('zero', Float32Array.of(0), [1])
      .initializer('v', Float32Array.of(o.learnedValue!), [1])
      .node('Mul', ['x', 'zero'], ['x0'])
      .node('Add', ['x0', 'v'], ['vv'])
      .node('Concat', ['eps', 'vv'], ['out'], { axis: 1 });
  }
  return g.toBytes();
}

/**
 * A random-weight UNet-like denoiser: 3×3 conv with a learned per-timestep embedding added, a
 * stride-2 conv down, a 2×2 transposed conv up, a skip connection, and a 3×3 conv to 2C outputs
 * (ε and learned-range values, tanh-bounded like a trained model's). `width` feature channels.
 */
export function tinyUnetModel(o: { channels: number; size: number; width?: number; steps?: number; seed?: number }): Uint8Array {
  const C = o.channels;
  const F = o.width ?? 8;
  const T = o.steps ?? 1000;
  const seed = o.seed ?? 1;
  return new OnnxGraphBuilder('tiny-unet')
    .input('x', 'float32', ['N', C, o.size, o.size])
    .input('timesteps', 'int64', ['N'])
    .output('out', 'float32', ['N', 2 * C, o.size, o.size])
    .initializer('temb', weights(T * F, 1, seed, 0.3), [T, F])
    .initializer('tshape', BigInt64Array.from([-1n, BigInt(F), 1n, 1n]), [4])
    .initializer('w1', weights(F * C * 9, C * 9, seed + 1), [F, C, 3, 3])
    .initializer('b1', new Float32Array(F), [F])
    .initializer('w2', weights(F * F * 9, F * 9, seed + 2), [F, F, 3, 3])
    .initializer('b2', new Float32Array(F), [F])
    .initializer('wt', weights(F * F * 4, F * 4, seed + 3), [F, F, 2, 2])
    .initializer('w3', weights(2 * C * 2 * F * 9, 2 * F * 9, seed + 4, 0.5), [2 * C, 2 * F, 3, 3])
    .initializer('b3', new Float32Array(2 * C), [2 * C])
    .node('Gather', ['temb', 'timesteps'], ['e'])
    .node('Reshape', ['e', 'tshape'], ['e4'])
    .node('Conv', ['x', 'w1', 'b1'], ['c1'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] })
    .node('Add', ['c1', 'e4'], ['c1e'])
    .node('Relu', ['c1e'], ['h1'])
    .node('Conv', ['h1', 'w2', 'b2'], ['c2'], { pads: [1, 1, 1, 1], strides: [2, 2], kernel_shape: [3, 3] })
    .node('Relu', ['c2'], ['h2'])
    .node('ConvTranspose', ['h2', 'wt'], ['u'], { strides: [2, 2], kernel_shape: [2, 2] })
    .node('Relu', ['u'], ['hu'])
    .node('Concat', ['hu', 'h1'], ['cat'], { axis: 1 })
    .node('Conv', ['cat', 'w3', 'b3'], ['c3'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] })
    .node('Tanh', ['c3'], ['out'])
    .toBytes();
}

/**
 * A small conv classifier: three 3×3 conv + ReLU stages (the second and third stride 2) exported as
 * graph outputs 'stage1' … 'stage3' after the logits, then global average pooling and a dense layer.
 */
export function tinyClassifierModel(o: { channels: number; size: number; classes?: number; seed?: number }): Uint8Array {
  const C = o.channels;
  const classes = o.classes ?? 10;
  const seed = o.seed ?? 11;
  const s2 = Math.ceil(o.size / 2);
  const s3 = Math.ceil(s2 / 2);
  return new OnnxGraphBuilder('tiny-classifier')
    .input('image', 'float32', ['N', C, o.size, o.size])
    .output('logits', 'float32', ['N', classes])
    .output('stage1', 'float32', ['N', 8, o.size, o.size])
    .output('stage2', 'float32', ['N', 16, s2, s2])
    .output('stage3', 'float32', ['N', 16, s3, s3])
    .initializer('w1', weights(8 * C * 9, C * 9, seed, 1.4), [8, C, 3, 3])
    .initializer('b1', new Float32Array(8).fill(0.05), [8])
    .initializer('w2', weights(16 * 8 * 9, 8 * 9, seed + 1, 1.4), [16, 8, 3, 3])
    .initializer('b2', new Float32Array(16).fill(0.05), [16])
    .initializer('w3', weights(16 * 16 * 9, 16 * 9, seed + 2, 1.4), [16, 16, 3, 3])
    .initializer('b3', new Float32Array(16).fill(0.05), [16])
    .initializer('wd', weights(classes * 16, 16, seed + 3, 3), [classes, 16])
    .initializer('bd', new Float32Array(classes), [classes])
    .node('Conv', ['image', 'w1', 'b1'], ['c1'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] })
    .node('Relu', ['c1'], ['stage1'])
    .node('Conv', ['stage1', 'w2', 'b2'], ['c2'], { pads: [1, 1, 1, 1], strides: [2, 2], kernel_shape: [3, 3] })
    .node('Relu', ['c2'], ['stage2'])
    .node('Conv', ['stage2', 'w3', 'b3'], ['c3'], { pads: [1, 1, 1, 1], strides: [2, 2], kernel_shape: [3, 3] })
    .node('Relu', ['c3'], ['stage3'])
    .node('GlobalAveragePool', ['stage3'], ['pool'])
    .node('Flatten', ['pool'], ['flat'])
    .node('Gemm', ['flat', 'wd', 'bd'], ['logits'], { transB: 1 })
    .toBytes();
}

/** Writes `n` seeded test images (smooth blobs and stripes) as PNGs into `dir/<label>/`, labels 0 … classes−1. */
export async function writeTestImages(dir: string, o: { count: number; size: number; channels: 1 | 3; classes?: number; seed?: number }): Promise<void> {
  const rng = createRng(o.seed ?? 5);
  const classes = o.classes ?? 2;
  for (let i = 0; i < o.count; i++) {
    const label = i % classes;
    const data = Buffer.alloc(o.size * o.size * o.channels);
    const cx = rng.nextFloat() * o.size;
    const cy = rng.nextFloat() * o.size;
    const freq = 0.2 + 0.5 * rng.nextFloat();
    for (let y = 0; y < o.size; y++) {
      for (let x = 0; x < o.size; x++) {
        const blob = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.1 * o.size * o.size));
        const stripes = 0.5 + 0.5 * Math.sin(freq * (label === 0 ? x : y));
        for (let c = 0; c < o.channels; c++) data[(y * o.size + x) * o.channels + c] = Math.round(255 * (0.6 * blob + (0.4 * stripes * (c + 1)) / o.channels));
      }
    }
    const folder = join(dir, String(label));
    mkdirSync(folder, { recursive: true });
    await sharp(data, { raw: { width: o.size, height: o.size, channels: o.channels } })
      .png()
      .toFile(join(folder, `img${String(i).padStart(3, '0')}.png`));
  }
}

/** Writes `bytes` to `dir/name` and returns the path. */
export function saveModel(dir: string, name: string, bytes: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
