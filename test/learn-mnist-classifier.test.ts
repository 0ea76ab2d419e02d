import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { channelAxis, OnnxClassifier, top1 } from '../src/images/models/classifier.ts';
import {
  classifierStageNames, digitClassifierParamShapes, initDigitClassifier, MNIST_CLASSIFIER_CONFIG,
  validateDigitClassifierConfig, type DigitClassifierConfig,
} from '../src/learn/digitClassifier.ts';
import { digitClassifierToOnnx } from '../src/learn/digitClassifierOnnx.ts';
import { countParams, type NamedParams } from '../src/learn/imageUnet.ts';
import { loadMnist, MNIST_SIZE, type DigitSet } from '../src/learn/mnist.ts';
import { classifierAccuracy, trainDigitClassifier } from '../src/learn/mnistClassifier.ts';
import { readOnnxMetadata } from '../src/learn/onnxDenoiser.ts';
import { initTf } from '../src/learn/tf/backend.ts';
import { digitClassifierForward } from '../src/learn/tf/digitClassifierModel.ts';
import { paramError, paramErrorAsync } from './helpers/errors.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hierdiff-mnist-classifier-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Init, then biases and the GroupNorm affine parameters randomised too (at init they are 0 and 1, which would hide a γ/β mix-up). */
function randomParams(config: DigitClassifierConfig, seed: number): NamedParams {
  const rng = createRng(seed);
  const params = initDigitClassifier(config, rng);
  for (const [name, p] of Object.entries(params)) {
    if (name.includes('norm') && name.endsWith('.weight')) p.data.forEach((_, k) => (p.data[k] = 1 + 0.3 * rng.normal()));
    else if (name.endsWith('.bias')) p.data.forEach((_, k) => (p.data[k] = 0.3 * rng.normal()));
  }
  return params;
}

/** tfjs forward on NCHW images: logits and the stages transposed to NCHW. */
async function tfForward(params: NamedParams, config: DigitClassifierConfig, x: Float32Array, n: number): Promise<{ logits: Float32Array; stages: { data: Float32Array; shape: number[] }[] }> {
  const tf = await initTf('wasm');
  const S = config.imageSize;
  return tf.tidy(() => {
    const tensors = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(p.data, p.shape, 'float32')]));
    const input = tf.transpose(tf.tensor4d(x, [n, config.inChannels, S, S]), [0, 2, 3, 1]) as Tensor4D;
    const out = digitClassifierForward(tf, tensors, config, input);
    return {
      logits: out.logits.dataSync() as Float32Array,
      stages: out.stages.map((s) => {
        const t = tf.transpose(s, [0, 3, 1, 2]);
        return { data: t.dataSync() as Float32Array, shape: t.shape };
      }),
    };
  });
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

describe('ONNX export', () => {
  it('runs in onnxruntime like the tfjs forward, with the outputs OnnxClassifier expects', async () => {
    const config = MNIST_CLASSIFIER_CONFIG;
    const params = randomParams(config, 7);
    const path = join(dir, 'classifier.onnx');
    writeFileSync(path, digitClassifierToOnnx(params, config));
    const n = 3;
    const x = new Float32Array(n * 32 * 32);
    createRng(8).fillNormal(x);
    const ref = await tfForward(params, config, x, n);
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
      // float32 on both sides, different summation orders: agreement to 1e-4 of the output's scale.
      expect(relErr(out.logits, ref.logits)).toBeLessThan(1e-4);
      out.layers.forEach((l, k) => {
        expect(l.shape).toEqual(ref.stages[k].shape);
        expect(relErr(l.data, ref.stages[k].data)).toBeLessThan(1e-4);
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
    const o = { steps: 40, batch: 32, lr: 1e-2, shift: 0, seed: 3, config: SMALL, data };
    const r = await trainDigitClassifier(o);
    expect(r.losses).toHaveLength(40);
    expect(r.losses[0]).toBeGreaterThan(2);
    expect(Math.max(...r.losses.slice(-5))).toBeLessThan(r.losses[0] - 0.5);
    const again = await trainDigitClassifier(o);
    expect(again.losses).toEqual(r.losses);
    const acc = await classifierAccuracy(r.params, SMALL, data, { batch: 10 });
    const ref = await tfForward(r.params, SMALL, data.images, data.count);
    let hits = 0;
    for (let i = 0; i < data.count; i++) if (top1(ref.logits, 10, i) === data.labels[i]) hits++;
    expect(acc).toBe(hits / data.count);
    expect(acc).toBeGreaterThan(0.3);
    await paramErrorAsync(() => classifierAccuracy(r.params, MNIST_CLASSIFIER_CONFIG, data));
  });

  it('resumes from a checkpoint to the weights of an uninterrupted run', async () => {
    const data = smallSet();
    const base = { batch: 16, lr: 3e-3, seed: 5, config: SMALL, data };
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
