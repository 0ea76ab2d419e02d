import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { channelAxis, OnnxClassifier, top1 } from '../src/images/models/classifier.ts';
import { classifierStageNames, digitClassifierParamShapes, initDigitClassifier, MNIST_CLASSIFIER_CONFIG, validateDigitClassifierConfig, type DigitClassifierConfig } from '../src/mnist/classifier.ts';
import { digitClassifierGraph } from '../src/mnist/classifierGraph.ts';
import { digitClassifierToOnnx } from '../src/mnist/classifierOnnx.ts';
import { countParams, type NamedParams } from '../src/mnist/unet.ts';
import { loadMnist, MNIST_SIZE, type DigitSet } from '../src/mnist/data.ts';
import { classifierAccuracy, digitClassifierLoss, trainDigitClassifier } from '../src/mnist/classifierTrain.ts';
import { readOnnxMetadata } from '../src/learn/onnxDenoiser.ts';
import { Graph } from '../src/nn/graph.ts';
import { buildTrainStep } from '../src/nn/train.ts';
import { runOnnx } from './helpers/runOnnx.ts';
import { paramError, paramErrorAsync } from './helpers/errors.ts';
import { crossEntropy, digitClassifierReference, directionalDerivative, FLOAT32_NETWORK, gradientError, outputError, t64, toParams64, type Params64 } from './helpers/mnistReference.ts';
import { randomArray, randomParams } from './helpers/random.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-mnist-classifier-');

const run = runOnnx;

/** The float64 reference forward on NCHW images (logits and stages as float64 arrays). */
function refForward(params: NamedParams, config: DigitClassifierConfig, x: Float32Array, n: number): { logits: Float64Array; stages: { data: Float64Array; shape: number[] }[] } {
  const S = config.imageSize;
  const out = digitClassifierReference(toParams64(params), config, t64([n, config.inChannels, S, S], x));
  return { logits: out.logits.data, stages: out.stages };
}

/** max |a − b| / (1 + max |b|) */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (1 + scale);
}

/** `count` training digits spread over the classes (the split is in class order). */
function smallSet(count = 256): DigitSet {
  const { train } = loadMnist();
  const px = MNIST_SIZE * MNIST_SIZE;
  const stride = Math.floor(train.count / count);
  const images = new Float32Array(count * px);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    images.set(train.images.subarray(i * stride * px, (i * stride + 1) * px), i * px);
    labels[i] = train.labels[i * stride];
  }
  return { count, images, labels };
}

const SMALL: DigitClassifierConfig = { inChannels: 1, imageSize: 32, channels: [8, 8, 16, 16], convs: [1, 1, 1, 1], groups: 4, classes: 10 };
/** Two stages, one with two convolutions, at 8×8: the gradient check's model. */
const TINY: DigitClassifierConfig = { inChannels: 1, imageSize: 8, channels: [4, 8], convs: [1, 2], groups: 2, classes: 3 };

describe('digit classifier definition', () => {
  it('has the shipped architecture and checks configs', () => {
    const shapes = digitClassifierParamShapes(MNIST_CLASSIFIER_CONFIG);
    expect(shapes[0]).toEqual(['stage1.conv1.weight', [MNIST_CLASSIFIER_CONFIG.channels[0], 1, 3, 3]]);
    expect(shapes.at(-2)).toEqual(['head.weight', [10, MNIST_CLASSIFIER_CONFIG.channels.at(-1)]]);
    expect(countParams(shapes)).toBeGreaterThan(1000);
    expect(classifierStageNames(MNIST_CLASSIFIER_CONFIG)).toEqual(['stage1', 'stage2', 'stage3', 'stage4']);
    expect(paramError(() => validateDigitClassifierConfig({ ...SMALL, channels: [8, 8, 6, 8] })).param).toBe('channels');
    expect(paramError(() => validateDigitClassifierConfig({ ...SMALL, imageSize: 20 })).param).toBe('imageSize');
    expect(paramError(() => validateDigitClassifierConfig({ ...SMALL, convs: [1, 1, 0, 1] })).param).toBe('convs');
    expect(paramError(() => validateDigitClassifierConfig({ ...SMALL, convs: [1, 1] })).param).toBe('convs');
  });
});

describe('training graph', () => {
  it("a training step's loss and gradient equal float64 central differences of the reference classifier", async () => {
    const n = 4;
    const S = TINY.imageSize;
    const shapes = digitClassifierParamShapes(TINY);
    const params = randomParams(initDigitClassifier, TINY, 31);
    const x = randomArray(n * S * S, 32);
    const labels = [2, 0, 1, 2];
    const oneHot = Float32Array.from({ length: n * 3 }, (_, i) => (i % 3 === labels[Math.floor(i / 3)] ? 1 : 0));
    const step = buildTrainStep(shapes, digitClassifierLoss(TINY, n));
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = { x: { data: x, shape: [n, 1, S, S] }, onehot: { data: oneHot, shape: [n, 3] } };
    for (const [name, shape] of shapes) feeds[name] = { data: params[name].data, shape };
    const got = await run(step.bytes, feeds);
    const x64 = t64([n, 1, S, S], x);
    const f = (p: Params64) => crossEntropy(digitClassifierReference(p, TINY, x64).logits, labels);
    const p64 = toParams64(params);
    const loss = f(p64);
    expect(Math.abs(got.loss[0] - loss)).toBeLessThanOrEqual(FLOAT32_NETWORK * loss);
    // One random direction per parameter tensor, so that no tensor's gradient hides behind another's.
    shapes.forEach(([name], i) => {
      const u = randomArray(params[name].data.length, 600 + i);
      const { error, allowed } = gradientError(got[`grad.${name}`], u, directionalDerivative(f, p64, { [name]: u }));
      expect(error, name).toBeLessThanOrEqual(allowed);
    });
  });

  it("the export computes the training graph's forward", async () => {
    const n = 3;
    const config = SMALL;
    const S = config.imageSize;
    const params = randomParams(initDigitClassifier, config, 41);
    const x = randomArray(n * S * S, 42);
    const exported = await run(digitClassifierToOnnx(params, config), { x: { data: x, shape: [n, 1, S, S] } });
    const g = new Graph();
    const shapes = digitClassifierParamShapes(config);
    const pv = Object.fromEntries(shapes.map(([name, shape]) => [name, g.param(name, shape)]));
    const { logits, stages } = digitClassifierGraph(g, pv, config, g.input('x', [n, 1, S, S]));
    const names = classifierStageNames(config);
    const bytes = g.toOnnx({ name: 'train-forward', outputs: [['logits', logits], ...stages.map((v, k): [string, typeof v] => [names[k], v])] });
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = { x: { data: x, shape: [n, 1, S, S] } };
    for (const [name, shape] of shapes) feeds[name] = { data: params[name].data, shape };
    const trained = await run(bytes, feeds);
    for (const name of ['logits', ...names]) {
      const { error, allowed } = outputError(exported[name], trained[name]);
      expect(error, name).toBeLessThanOrEqual(allowed);
    }
  });
});

describe('ONNX export', () => {
  it('runs in onnxruntime like the float64 reference, with the outputs OnnxClassifier expects', async () => {
    const config = MNIST_CLASSIFIER_CONFIG;
    const params = randomParams(initDigitClassifier, config, 7);
    const path = join(dir, 'classifier.onnx');
    writeFileSync(path, digitClassifierToOnnx(params, config));
    const n = 3;
    const x = new Float32Array(n * 32 * 32);
    createRng(8).fillNormal(x);
    const ref = refForward(params, config, x, n);
    const clf = await OnnxClassifier.open(path, { batchSize: 4 });
    try {
      expect(clf.inputName).toBe('x');
      expect(clf.logitsName).toBe('logits');
      expect(clf.layerNames).toEqual(['stage1', 'stage2', 'stage3', 'stage4']);
      expect(clf.inputShape).toEqual([1, 32, 32]);
      const out = await clf.run(x, n);
      expect(out.classes).toBe(10);
      expect(out.layers.map((l) => l.shape)).toEqual(config.channels.map((c, k) => [n, c, 32 >> k, 32 >> k]));
      for (const l of out.layers) expect(channelAxis(l.shape)).toBe(1);
      // float32 against float64: FLOAT32_NETWORK of the output's scale.
      expect(relErr(out.logits, ref.logits)).toBeLessThan(FLOAT32_NETWORK);
      out.layers.forEach((l, k) => {
        expect(l.shape).toEqual(ref.stages[k].shape);
        expect(relErr(l.data, ref.stages[k].data)).toBeLessThan(FLOAT32_NETWORK);
      });
      for (let i = 0; i < n; i++) expect(top1(out.logits, 10, i)).toBe(top1(ref.logits, 10, i));
    } finally {
      await clf.release();
    }
    expect(readOnnxMetadata(path).model).toBe('mnist-classifier');
  });

  it('refuses params that do not fit the config', () => {
    const params = initDigitClassifier(SMALL, createRng(1));
    delete params['head.bias'];
    expect(paramError(() => digitClassifierToOnnx(params, SMALL)).message).toContain('head.bias');
  });
});

describe('training', () => {
  it('lowers the loss with a fixed seed, and classifierAccuracy counts top-1 hits', async () => {
    // 32 digits, one full batch per step and no shifts: the loss is that of one fixed batch, so a
    // drop is the optimiser's work, not a luckier batch.
    const data = smallSet(32);
    const o = { steps: 40, batch: 32, lr: 1e-2, shift: 0, seed: 3, config: SMALL, data, threads: 1 };
    const r = await trainDigitClassifier(o);
    expect(r.losses).toHaveLength(40);
    expect(r.losses[0]).toBeGreaterThan(2);
    expect(Math.max(...r.losses.slice(-5))).toBeLessThan(r.losses[0] - 0.5);
    const again = await trainDigitClassifier(o);
    expect(again.losses).toEqual(r.losses);
    const acc = await classifierAccuracy(r.params, SMALL, data, { batch: 10 });
    const ref = refForward(r.params, SMALL, data.images, data.count);
    let hits = 0;
    for (let i = 0; i < data.count; i++) if (top1(ref.logits, 10, i) === data.labels[i]) hits++;
    expect(acc).toBe(hits / data.count);
    expect(acc).toBeGreaterThan(0.3);
    await paramErrorAsync(() => classifierAccuracy(r.params, MNIST_CLASSIFIER_CONFIG, data));
  });

  it('resumes from a checkpoint to the weights of an uninterrupted run', async () => {
    const data = smallSet();
    const base = { batch: 16, lr: 3e-3, seed: 5, config: SMALL, data, threads: 1 };
    const whole = await trainDigitClassifier({ ...base, steps: 6 });
    const ck = join(dir, 'resume');
    await trainDigitClassifier({ ...base, steps: 3, checkpointDir: ck, checkpointEvery: 3 });
    const resumed = await trainDigitClassifier({ ...base, steps: 6, checkpointDir: ck, checkpointEvery: 3, resume: true });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.losses).toEqual(whole.losses);
    for (const name of Object.keys(whole.params)) {
      expect(resumed.params[name].data).toEqual(whole.params[name].data);
      expect(resumed.ema[name].data).toEqual(whole.ema[name].data);
    }
    await paramErrorAsync(() => trainDigitClassifier({ ...base, lr: 1e-3, steps: 6, checkpointDir: ck, resume: true }));
  });
});
