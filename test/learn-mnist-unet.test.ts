import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { OnnxDenoiser } from '../src/images/models/denoiser.ts';
import { crossEntropyGraph } from '../src/mnist/classifierGraph.ts';
import { countParams, imageUnetParamShapes, initImageUnet, MNIST_UNET_CONFIG, type ImageUnetConfig } from '../src/mnist/unet.ts';
import { imageUnetGraph } from '../src/mnist/unetGraph.ts';
import { imageUnetToOnnx } from '../src/mnist/unetOnnx.ts';
import { HELD_OUT_PER_CLASS, heldOutSubset, loadMnist } from '../src/mnist/data.ts';
import { mnistDenoiserLoss, trainMnistDenoiser } from '../src/mnist/unetTrain.ts';
import { Graph, type Value } from '../src/nn/graph.ts';
import { buildTrainStep } from '../src/nn/train.ts';
import { runOnnx } from './helpers/runOnnx.ts';
import {
  addPerChannel,
  avgPool2,
  concatChannels,
  conv2d,
  crossEntropy,
  denoiserLossReference,
  directionalDerivative,
  globalMean,
  gradientError,
  groupNorm,
  imageUnetReference,
  linear,
  outputError,
  relu,
  silu,
  t64,
  toParams64,
  upsample2,
  type Params64,
  type T64,
} from './helpers/mnistReference.ts';
import { elementCount, mean } from './helpers/arrays.ts';
import { randomArray, randomParams } from './helpers/random.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-mnist-unet-');

const TINY: ImageUnetConfig = { inChannels: 1, imageSize: 8, channels: [4, 8], groups: 2, timeDim: 8, embDim: 16 };

/** Initial parameters with every weight made non-zero and the norms' affine parts randomised (init hides mix-ups); biases 0.2·N(0, 1). */
const unetParams = (config: ImageUnetConfig, seed: number) => randomParams(initImageUnet, config, seed, 0.2);

const run = runOnnx;

interface LayerCase {
  name: string;
  /** Shapes of the differentiated tensors: `x` a trainable data input, the others parameters. */
  shapes: Record<string, number[]>;
  graph: (g: Graph, v: Record<string, Value>) => Value;
  reference: (v: Params64) => T64;
  /** The layer's output is itself the loss (else L = Σ out ⊙ r, r random). */
  isLoss?: boolean;
  /** Extra (non-differentiated) data inputs. */
  data?: Record<string, { data: Float32Array; shape: number[] }>;
}

const ONE_HOT = { data: Float32Array.from({ length: 20 }, (_, i) => (i % 5 === [3, 0, 4, 1][Math.floor(i / 5)] ? 1 : 0)), shape: [4, 5] };

const LAYERS: LayerCase[] = [
  {
    name: 'conv 3×3 (pads 1) with bias',
    shapes: { x: [2, 3, 5, 4], w: [4, 3, 3, 3], b: [4] },
    graph: (g, v) => g.conv(v.x, v.w, v.b, { pads: [1, 1] }),
    reference: (v) => conv2d(v.x, v.w, v.b, 1),
  },
  {
    name: 'conv 1×1 with bias',
    shapes: { x: [2, 3, 4, 4], w: [5, 3, 1, 1], b: [5] },
    graph: (g, v) => g.conv(v.x, v.w, v.b),
    reference: (v) => conv2d(v.x, v.w, v.b, 0),
  },
  {
    name: 'GroupNorm (3 groups of 2 channels, eps 1e−5)',
    shapes: { x: [2, 6, 3, 2], gamma: [6], beta: [6] },
    graph: (g, v) => g.groupNorm(v.x, v.gamma, v.beta, 3, 1e-5),
    reference: (v) => groupNorm(v.x, v.gamma, v.beta, 3, 1e-5),
  },
  { name: 'SiLU', shapes: { x: [2, 3, 4] }, graph: (g, v) => g.silu(v.x), reference: (v) => silu(v.x) },
  { name: 'ReLU', shapes: { x: [2, 3, 4] }, graph: (g, v) => g.relu(v.x), reference: (v) => relu(v.x) },
  { name: 'average pooling 2×2', shapes: { x: [2, 3, 4, 6] }, graph: (g, v) => g.avgPool(v.x, 2), reference: (v) => avgPool2(v.x) },
  { name: 'nearest upsampling 2×', shapes: { x: [2, 3, 2, 3] }, graph: (g, v) => g.upsample(v.x, 2), reference: (v) => upsample2(v.x) },
  {
    name: 'concatenation along channels',
    shapes: { x: [2, 3, 2, 2], y: [2, 2, 2, 2] },
    graph: (g, v) => g.concat([v.x, v.y], 1),
    reference: (v) => concatChannels(v.x, v.y),
  },
  {
    name: 'Gemm (Linear, transB) with bias',
    shapes: { x: [3, 5], w: [4, 5], b: [4] },
    graph: (g, v) => g.linear(v.x, v.w, v.b),
    reference: (v) => linear(v.x, v.w, v.b),
  },
  {
    name: 'per-channel shift (unsqueeze, broadcast add)',
    shapes: { x: [2, 3, 2, 2], s: [2, 3] },
    graph: (g, v) => g.add(v.x, g.unsqueeze(v.s, [2, 3])),
    reference: (v) => addPerChannel(v.x, v.s),
  },
  { name: 'global mean over positions', shapes: { x: [2, 3, 4, 4] }, graph: (g, v) => g.reduceMean(v.x, [2, 3]), reference: (v) => globalMean(v.x) },
  {
    name: 'log-softmax cross-entropy',
    shapes: { x: [4, 5] },
    data: { onehot: ONE_HOT },
    graph: (g, v) => crossEntropyGraph(g, v.x, g.input('onehot', [4, 5])),
    reference: (v) => t64([], [crossEntropy(v.x, [3, 0, 4, 1])]),
    isLoss: true,
  },
];

describe('layers: forward against float64, gradient against float64 central differences', () => {
  LAYERS.forEach((c, k) => {
    it(c.name, async () => {
      const g = new Graph();
      const names = Object.keys(c.shapes);
      const vals: Record<string, Value> = {};
      for (const name of names) vals[name] = name === 'x' ? g.input('x', c.shapes.x, 'float32', { trainable: true }) : g.param(name, c.shapes[name]);
      const out = c.graph(g, vals);
      const r = c.isLoss ? null : g.input('r', out.shape);
      const loss = r
        ? g.reduceSum(
            g.mul(out, r),
            out.shape.map((_, i) => i),
          )
        : out;
      const grads = g.gradients(
        loss,
        names.map((n) => vals[n]),
      );
      const bytes = g.toOnnx({ name: 'layer', outputs: [['out', out], ['loss', loss], ...grads.map((v, i): [string, Value] => [`grad.${names[i]}`, v])] });
      const feeds: Record<string, { data: Float32Array; shape: number[] }> = { ...c.data };
      names.forEach((name, i) => (feeds[name] = { data: randomArray(elementCount(c.shapes[name]), 100 * k + i), shape: c.shapes[name] }));
      const rData = randomArray(elementCount(out.shape), 100 * k + 99);
      if (r) feeds.r = { data: rData, shape: out.shape as number[] };
      const got = await run(bytes, feeds);
      const inputs = Object.fromEntries(names.map((n) => [n, t64(c.shapes[n], feeds[n].data)]));
      const want = c.reference(inputs);
      const fwd = outputError(got.out, want.data);
      expect(fwd.error).toBeLessThanOrEqual(fwd.allowed);
      const f = (v: Params64) => {
        const y = c.reference(v).data;
        return r ? y.reduce((a, yi, i) => a + yi * rData[i], 0) : y[0];
      };
      for (const [i, name] of names.entries()) {
        for (const d of [0, 1]) {
          const u = randomArray(feeds[name].data.length, 1000 * k + 10 * i + d);
          const { error, allowed } = gradientError(got[`grad.${name}`], u, directionalDerivative(f, inputs, { [name]: u }));
          expect(error, `${name}, direction ${d}`).toBeLessThanOrEqual(allowed);
        }
      }
    });
  });
});

/** Noised images, timesteps and noise of a batch for the tiny config. */
function tinyBatch(config: ImageUnetConfig, n: number, seed: number): { x: Float32Array; timesteps: Float32Array; eps: Float32Array } {
  const S = config.imageSize;
  const rng = createRng(seed);
  return {
    x: randomArray(n * S * S, seed + 1),
    timesteps: Float32Array.from({ length: n }, () => rng.nextInt(1000)),
    eps: randomArray(n * S * S, seed + 2),
  };
}

describe('image U-Net', () => {
  it('has the shipped architecture: 4 levels, 1 389 473 parameters (379 105 with three)', () => {
    expect(countParams(imageUnetParamShapes(MNIST_UNET_CONFIG))).toBe(1389473);
    expect(countParams(imageUnetParamShapes({ ...MNIST_UNET_CONFIG, channels: [16, 32, 64] }))).toBe(379105);
  });

  it("a training step's loss and gradient equal float64 central differences of the reference U-Net", async () => {
    const n = 3;
    const S = TINY.imageSize;
    const shapes = imageUnetParamShapes(TINY);
    const params = unetParams(TINY, 21);
    const { x, timesteps, eps } = tinyBatch(TINY, n, 22);
    const step = buildTrainStep(shapes, mnistDenoiserLoss(TINY, n));
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = {
      x: { data: x, shape: [n, 1, S, S] },
      timesteps: { data: timesteps, shape: [n] },
      eps: { data: eps, shape: [n, 1, S, S] },
    };
    for (const [name, shape] of shapes) feeds[name] = { data: params[name].data, shape };
    const got = await run(step.bytes, feeds);
    const p64 = toParams64(params);
    const x64 = t64([n, 1, S, S], x);
    const f = (p: Params64) => denoiserLossReference(p, TINY, x64, timesteps, eps);
    const loss = f(p64);
    expect(Math.abs(got.loss[0] - loss)).toBeLessThanOrEqual(1e-4 * loss);
    // One random direction per parameter tensor, so that no tensor's gradient hides behind another's.
    shapes.forEach(([name], i) => {
      const u = randomArray(params[name].data.length, 500 + i);
      const { error, allowed } = gradientError(got[`grad.${name}`], u, directionalDerivative(f, p64, { [name]: u }));
      expect(error, name).toBeLessThanOrEqual(allowed);
    });
  });

  for (const [label, config] of [
    ['tiny', TINY],
    ['MNIST', MNIST_UNET_CONFIG],
  ] as const) {
    it(`the export computes the training graph's forward and the float64 reference's (${label} config)`, async () => {
      const params = unetParams(config, 11);
      const S = config.imageSize;
      const n = 3;
      const x = randomArray(n * S * S, 12);
      const timesteps = Float32Array.of(0, 417, 999);
      const bytes = imageUnetToOnnx(params, config, { schedule: 'linear', originalSteps: 1000 });
      const path = join(dir, `${label}.onnx`);
      writeFileSync(path, bytes);
      const exported = (await run(bytes, { x: { data: x, shape: [n, 1, S, S] }, timesteps: { data: timesteps, shape: [n] } })).eps;
      // The training emission: fixed batch, parameters as graph inputs.
      const g = new Graph();
      const xv = g.input('x', [n, 1, S, S]);
      const tv = g.input('timesteps', [n]);
      const shapes = imageUnetParamShapes(config);
      const pv = Object.fromEntries(shapes.map(([name, shape]) => [name, g.param(name, shape)]));
      const trainBytes = g.toOnnx({ name: 'train-forward', outputs: [['eps', imageUnetGraph(g, pv, config, xv, tv)]] });
      const feeds: Record<string, { data: Float32Array; shape: number[] }> = { x: { data: x, shape: [n, 1, S, S] }, timesteps: { data: timesteps, shape: [n] } };
      for (const [name, shape] of shapes) feeds[name] = { data: params[name].data, shape };
      const trained = (await run(trainBytes, feeds)).eps;
      const same = outputError(exported, trained);
      expect(same.error).toBeLessThanOrEqual(same.allowed);
      const want = imageUnetReference(toParams64(params), config, t64([n, 1, S, S], x), timesteps).data;
      const ref = outputError(exported, want);
      expect(ref.error).toBeLessThanOrEqual(ref.allowed);
      // The image experiment opens it as a guided-diffusion style denoiser: ε only, timesteps float32.
      const denoiser = await OnnxDenoiser.open(path, { batchSize: 4 });
      expect(denoiser.timestepType).toBe('float32');
      expect(denoiser.inputShape).toEqual([1, S, S]);
      await denoiser.release();
    });
  }

  it('refuses params that do not fit the config', () => {
    const params = initImageUnet(TINY, createRng(1));
    delete params['mid.conv1.bias'];
    expect(() => imageUnetToOnnx(params, TINY, { schedule: 'linear', originalSteps: 1000 })).toThrow(/mid\.conv1\.bias/);
  });
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
    const common = { config: TINY, data, batch: 8, seed: 5, lr: 1e-2, threads: 1 };
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
    expect(mean(long.losses.slice(30))).toBeLessThan(0.8 * mean(long.losses.slice(0, 5)));
    // Step k's draws depend on k only, not on the run's length.
    expect(long.losses.slice(0, 4)).toEqual(straight.losses);
  });
});
