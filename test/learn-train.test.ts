import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { ParamError } from '../src/core/errors.ts';
import { generate } from '../src/grammar/generate.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { initBpUnet, LAYER_NORM_EPS, type BpUnetConfig } from '../src/learn/bpUnet.ts';
import { discreteSchedule } from '../src/learn/schedule.ts';
import { initTf, type Tf } from '../src/learn/tf/backend.ts';
import { readCheckpoint } from '../src/learn/tf/checkpoint.ts';
import { conv1x1, convStride, convTransposeStride, denseScaled, geluExact, layerNormRows } from '../src/learn/tf/layers.ts';
import { d3pmLoss, MASK_TOKEN, noiseTokens, oneHotInput } from '../src/learn/tf/loss.ts';
import { bpUnetForward, disposeVariables, fromVariables, toVariables } from '../src/learn/tf/model.ts';
import { lossOn, train } from '../src/learn/tf/train.ts';
import { referenceForward, referenceLoss } from './helpers/learnTrainReference.ts';

let tf: Tf;
beforeAll(async () => {
  tf = await initTf('wasm');
});

const schedule = discreteSchedule();

function randn(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  createRng(seed, 77).fillNormal(out);
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

/**
 * Checks tf's gradient of f at `inputs` against central finite differences, entry by entry.
 *
 * The layers run in float32 only (tfjs-wasm), so the differences are float32 too: with h = 1e−2
 * the rounding error of f (≈ 1e−7·|f|, |f| ≈ 1 … 10 here) becomes ≈ 1e−5 … 5e−5 after dividing by
 * 2h, and the truncation error is ≈ h²·|f‴|/6 ≈ 1e−5 for these smooth O(1) functions. Seen: at most
 * 4e−5 of the largest gradient entry. The tolerance, 5e−4 of the largest entry, leaves a 10× margin
 * and still catches a 1 % error in a backward pass. Returns the largest error seen (relative to
 * the largest entry).
 */
function checkGradient(f: (...xs: Tensor[]) => Scalar, inputs: { data: Float32Array; shape: number[] }[], maxEntries = 12): number {
  const ts = inputs.map((x) => tf.tensor(x.data, x.shape));
  const grads = tf.grads(f)(ts).map((g) => g.dataSync().slice());
  const value = (arrays: Float32Array[]) =>
    tf.tidy(() => f(...arrays.map((a, i) => tf.tensor(a, inputs[i].shape))).dataSync()[0]);
  const h = 1e-2;
  let worst = 0;
  inputs.forEach((x, k) => {
    const g = grads[k];
    const gmax = Math.max(...Array.from(g, Math.abs), 1e-3);
    const step = Math.max(1, Math.floor(x.data.length / maxEntries));
    for (let i = 0; i < x.data.length; i += step) {
      const plus = inputs.map((y) => y.data.slice());
      const minus = inputs.map((y) => y.data.slice());
      plus[k][i] += h;
      minus[k][i] -= h;
      const fd = (value(plus) - value(minus)) / (2 * h);
      const err = Math.abs(fd - g[i]);
      worst = Math.max(worst, err / gmax);
      expect(err, `input ${k} entry ${i}: fd ${fd} vs grad ${g[i]}`).toBeLessThan(5e-4 * gmax);
    }
  });
  ts.forEach((t) => t.dispose());
  return worst;
}

/** Σ y ⊙ R with a fixed random R: a scalar whose gradient exercises every output entry. */
function probe(y: Tensor, seed: number): Scalar {
  return tf.sum(tf.mul(y, tf.tensor(randn(y.size, seed), y.shape))) as Scalar;
}

test('training schedule: β linear from 1e−3 to 0.1, ᾱ_0 = 0.999, float64 products', () => {
  expect(schedule.steps).toBe(200);
  expect(schedule.alpha.length).toBe(201);
  expect(schedule.alphaBar[0]).toBe(0.999);
  expect(schedule.alpha[200]).toBeCloseTo(0.9, 15);
  expect(schedule.alpha[100]).toBeCloseTo(1 - (1e-3 + 0.099 / 2), 15);
  let prod = 1;
  for (let u = 0; u <= 57; u++) prod *= 1 - (1e-3 + (0.099 * u) / 200);
  expect(schedule.alphaBar[57]).toBe(prod);
  expect(() => discreteSchedule({ steps: 0 })).toThrow(ParamError);
  expect(() => discreteSchedule({ betaEnd: 1 })).toThrow(ParamError);
});

describe('layers: custom gradients against finite differences', () => {
  test('dense, strided conv, transposed conv, 1×1 conv', () => {
    const x = { data: randn(6 * 5, 1), shape: [6, 5] };
    checkGradient((a, b) => probe(denseScaled(tf, a as Tensor2D, b as Tensor2D, 0.7), 2), [x, { data: randn(5 * 3, 3), shape: [5, 3] }]);
    // conv: 2 sequences of length 4 (8 rows), 3 → 2 channels, s = 2.
    const xc = { data: randn(8 * 3, 4), shape: [8, 3] };
    checkGradient((a, w) => probe(convStride(tf, a as Tensor2D, w as Tensor3D), 5), [xc, { data: randn(2 * 3 * 2, 6), shape: [2, 3, 2] }]);
    checkGradient((a, w) => probe(convTransposeStride(tf, a as Tensor2D, w as Tensor3D), 7), [xc, { data: randn(3 * 2 * 2, 8), shape: [3, 2, 2] }]);
    checkGradient((a, w) => probe(conv1x1(tf, a as Tensor2D, w as Tensor3D, 0.5), 9), [xc, { data: randn(4 * 3, 10), shape: [4, 3, 1] }]);
  });

  test('LayerNorm over channels and exact GELU', () => {
    const x = { data: randn(5 * 6, 11), shape: [5, 6] };
    const g = { data: randn(6, 12, 0.5).map((a) => a + 1), shape: [6] };
    const b = { data: randn(6, 13, 0.3), shape: [6] };
    checkGradient((a, gg, bb) => probe(layerNormRows(tf, a as Tensor2D, gg as Tensor1D, bb as Tensor1D, LAYER_NORM_EPS), 14), [x, g, b], 30);
    checkGradient((a) => probe(geluExact(tf, a), 15), [{ data: randn(40, 16, 2), shape: [40] }], 40);
  });

  test('custom gradients equal tfjs autodiff of the same function (float32 rounding only)', () => {
    const x = tf.tensor2d(randn(8 * 6, 21), [8, 6]);
    const gamma = tf.tensor1d(randn(6, 22).map((a) => 1 + 0.3 * a));
    const beta = tf.tensor1d(randn(6, 23));
    const w = tf.tensor3d(randn(6 * 4 * 2, 24), [6, 4, 2]);
    const builtin = (a: Tensor, g: Tensor, b: Tensor, k: Tensor) => {
      const centred = tf.sub(a, tf.mean(a, 1, true));
      const ln = tf.add(tf.mul(tf.div(centred, tf.sqrt(tf.add(tf.mean(tf.square(centred), 1, true), LAYER_NORM_EPS))), g), b);
      const gl = tf.mul(ln, tf.mul(tf.add(tf.erf(tf.mul(ln, Math.SQRT1_2)), 1), 0.5));
      const kk = tf.reshape(tf.transpose(k, [0, 2, 1]), [6, 8]);
      return probe(tf.reshape(tf.mul(tf.matMul(gl, kk), 1 / Math.sqrt(12)), [16, 4]), 25);
    };
    const custom = (a: Tensor, g: Tensor, b: Tensor, k: Tensor) =>
      probe(convTransposeStride(tf, geluExact(tf, layerNormRows(tf, a as Tensor2D, g as Tensor1D, b as Tensor1D, LAYER_NORM_EPS)), k as Tensor3D), 25);
    const ga = tf.grads(builtin)([x, gamma, beta, w]);
    const gb = tf.grads(custom)([x, gamma, beta, w]);
    expect(custom(x, gamma, beta, w).dataSync()[0]).toBeCloseTo(builtin(x, gamma, beta, w).dataSync()[0], 4);
    ga.forEach((g, i) => {
      const a = g.dataSync();
      const b = gb[i].dataSync();
      const scale = Math.max(...Array.from(a, Math.abs));
      for (let j = 0; j < a.length; j++) expect(Math.abs(a[j] - b[j])).toBeLessThan(1e-5 * scale);
    });
  });
});

const tiny: BpUnetConfig = { vocab: 3, tuple: 2, depth: 2, width: 5, process: 'uniform' };

describe('bpUNet forward and loss', () => {
  test.each(['uniform', 'mask'] as const)('forward equals the float64 PyTorch-semantics reference (%s)', (process) => {
    const config = { ...tiny, process };
    const params = initBpUnet(config, createRng(3, 0));
    // Nonzero norm biases and non-unit gains, so that the check sees them.
    for (const [name, p] of Object.entries(params)) if (name.includes('norm')) p.data.set(randn(p.data.length, name.length, 0.5).map((a) => a + (name.endsWith('weight') ? 1 : 0)));
    const n = 3;
    const d = 4;
    const tokens = Int32Array.from({ length: n * d }, (_, i) => (process === 'mask' && i % 3 === 1 ? MASK_TOKEN : (i * 7) % 3));
    const times = [0.005, 0.5, 1];
    const input = oneHotInput(tokens, n, 3);
    const logits = tf.tidy(() => {
      const x = tf.tensor3d(input, [n, 3, d]);
      const tensors = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(p.data, p.shape)]));
      return bpUnetForward(tf, tensors, config, x, times);
    });
    expect(logits.shape).toEqual([n, 3, d]);
    const got = logits.arraySync() as number[][][];
    logits.dispose();
    for (let i = 0; i < n; i++) {
      const x = Array.from({ length: 3 }, (_, b) => Float64Array.from({ length: d }, (_, p) => input[(i * 3 + b) * d + p]));
      const want = referenceForward(params, config, x, times[i]);
      for (let b = 0; b < 3; b++) for (let p = 0; p < d; p++) expect(got[i][b][p]).toBeCloseTo(want[b][p], 5);
    }
  });

  test('full loss gradient w.r.t. parameters against finite differences of the float64 reference (both processes)', () => {
    // The loss is a KL of two nearly equal posteriors: its value is a difference of O(1) terms
    // that cancel to ≈ 0.01, so float32 differences of the tf loss itself would be dominated by
    // rounding (≈ 1e−7 relative of O(1) terms, divided by 2h). The differences are therefore taken
    // on the float64 reference (same function: see the forward test) with h = 1e−3, where they are
    // exact to ≈ h² ≈ 1e−6 relative; the tfjs gradient itself is float32 (≈ 1e−6 relative), so a
    // 1 % tolerance (plus 1e−3 of the largest entry) is generous for rounding and tight for any
    // wrong term.
    for (const process of ['uniform', 'mask'] as const) {
      const config = { ...tiny, process };
      const params = initBpUnet(config, createRng(5, 0));
      const n = 4;
      const d = 4;
      const rng = createRng(9, process.length);
      const x0 = Int32Array.from({ length: n * d }, () => rng.nextInt(3));
      const t = Int32Array.from([3, 20, 60, 120]);
      const xt = noiseTokens(process, x0, t, 3, schedule, rng);
      const input = oneHotInput(xt, n, 3);
      const tOverT = Float64Array.from(t, (a) => a / 200);
      const names = ['embed.weight', 'down.0.conv.weight', 'down.1.norm.weight', 'up.0.conv.weight', 'up.1.norm.bias', 'readout.weight'];
      const tensors: Record<string, Tensor> = {};
      for (const [k, p] of Object.entries(params)) tensors[k] = tf.tensor(p.data, p.shape);
      const x = tf.tensor3d(input, [n, 3, d]);
      const f = (...ws: Tensor[]) => {
        const all = { ...tensors };
        names.forEach((k, i) => (all[k] = ws[i]));
        return d3pmLoss(tf, process, bpUnetForward(tf, all, config, x, tOverT), x0, xt, t, schedule);
      };
      const grads = tf.grads(f)(names.map((k) => tensors[k])).map((g) => g.dataSync().slice());
      const reference = () => {
        const logits = Array.from({ length: n }, (_, i) =>
          referenceForward(params, config, Array.from({ length: 3 }, (_, b) => Float64Array.from({ length: d }, (_, p) => input[(i * 3 + b) * d + p])), tOverT[i]).map((r) => Array.from(r)),
        );
        return referenceLoss(process, logits, x0, xt, t, schedule);
      };
      names.forEach((name, k) => {
        const w = params[name].data;
        const g = grads[k];
        const gmax = Math.max(...Array.from(g, Math.abs));
        expect(gmax, name).toBeGreaterThan(0);
        for (let i = 0; i < w.length; i += Math.max(1, Math.floor(w.length / 5))) {
          const orig = w[i];
          w[i] = orig + 1e-3;
          const hi = w[i];
          const up = reference();
          w[i] = orig - 1e-3;
          const lo = w[i];
          const down = reference();
          w[i] = orig;
          const fd = (up - down) / (hi - lo); // the actual float32 step
          expect(Math.abs(fd - g[i]), `${process} ${name}[${i}]: fd ${fd} vs grad ${g[i]}`).toBeLessThan(1e-3 * gmax + 1e-2 * Math.abs(g[i]));
        }
      });
      Object.values(tensors).forEach((a) => a.dispose());
      x.dispose();
    }
  });

  test('loss equals the float64 reference, is ≥ 0, and vanishes for x̂0 = onehot(x0)', () => {
    for (const process of ['uniform', 'mask'] as const) {
      const n = 6;
      const v = 4;
      const d = 8;
      const rng = createRng(4, process.length);
      const x0 = Int32Array.from({ length: n * d }, () => rng.nextInt(v));
      const t = Int32Array.from([1, 2, 40, 100, 150, 200]);
      const xt = noiseTokens(process, x0, t, v, schedule, rng);
      if (process === 'mask') expect(xt.some((a) => a === MASK_TOKEN)).toBe(true);
      const raw = randn(n * v * d, 31 + process.length, 2);
      const logits = tf.tensor3d(raw, [n, v, d]);
      const loss = d3pmLoss(tf, process, logits, x0, xt, t, schedule).dataSync()[0];
      const nested = Array.from({ length: n }, (_, i) => Array.from({ length: v }, (_, b) => Array.from({ length: d }, (_, p) => raw[(i * v + b) * d + p])));
      const want = referenceLoss(process, nested, x0, xt, t, schedule);
      expect(loss).toBeGreaterThan(0);
      expect(Math.abs(loss - want)).toBeLessThan(1e-5 * want + 1e-7);
      // logits = 30·onehot(x0): softmax is onehot(x0) to float32 precision (e^−30 ≈ 1e−13), so only
      // float32 rounding of the model's posterior remains (≈ 1e−7 per token).
      const perfect = new Float32Array(n * v * d);
      for (let i = 0; i < n; i++) for (let p = 0; p < d; p++) perfect[(i * v + x0[i * d + p]) * d + p] = 30;
      const zero = d3pmLoss(tf, process, tf.tensor3d(perfect, [n, v, d]), x0, xt, t, schedule).dataSync()[0];
      expect(Math.abs(zero)).toBeLessThan(1e-6);
      logits.dispose();
    }
  });

  test('noise: flip rates follow ᾱ_t; bad inputs are ParamErrors', () => {
    const n = 4000;
    const x0 = new Int32Array(n).fill(2);
    const t = new Int32Array(n).fill(30);
    const ab = schedule.alphaBar[30];
    const uni = noiseTokens('uniform', x0, t, 4, schedule, createRng(1));
    const changed = uni.filter((a) => a !== 2).length / n;
    expect(Math.abs(changed - (1 - ab) * 0.75)).toBeLessThan(4 * Math.sqrt(0.25 / n));
    const masked = noiseTokens('mask', x0, t, 4, schedule, createRng(1)).filter((a) => a === MASK_TOKEN).length / n;
    expect(Math.abs(masked - (1 - ab))).toBeLessThan(4 * Math.sqrt(0.25 / n));
    expect(() => noiseTokens('uniform', x0, [201], 4, schedule, createRng(1))).toThrow(ParamError);
    expect(() => oneHotInput(Int32Array.from([0, 5]), 1, 4)).toThrow(ParamError);
  });
});

describe('training', () => {
  const grammar = sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 7);
  const data = generate(grammar, 256, createRng(11)).levels[2];
  const config: BpUnetConfig = { vocab: 4, tuple: 2, depth: 2, width: 8, process: 'uniform' };
  const dirs: string[] = [];
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'hierdiff-learn-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('resume: 3 steps + checkpoint + 3 steps = 6 steps, bit for bit; same seed, same curve', async () => {
    const base = { config, data, batch: 8, lr: 1e-2, seed: 5 };
    const tensorsBefore = tf.memory().numTensors;
    const full = await train({ ...base, steps: 6 });
    expect(tf.memory().numTensors).toBe(tensorsBefore); // no tensor leaks
    const again = await train({ ...base, steps: 6 });
    expect(again.losses).toEqual(full.losses);
    const dir = tmp();
    const first = await train({ ...base, steps: 3, checkpointDir: dir, checkpointEvery: 2 });
    expect(first.losses).toEqual(full.losses.slice(0, 3));
    const ck = readCheckpoint(dir);
    expect(ck.step).toBe(3);
    expect(ck.losses).toEqual(full.losses.slice(0, 3));
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).step).toBe(3);
    const resumed = await train({ ...base, steps: 6, checkpointDir: dir, resume: true });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.losses).toEqual(full.losses);
    for (const [name, p] of Object.entries(full.params)) {
      expect(Buffer.from(resumed.params[name].data.buffer).equals(Buffer.from(p.data.buffer)), name).toBe(true);
    }
    // The weights moved, and another seed gives another run.
    expect(Buffer.from(full.params['down.0.conv.weight'].data.buffer).equals(Buffer.from(initBpUnet(config, createRng(5, 0))['down.0.conv.weight'].data.buffer))).toBe(false);
    await expect(train({ ...base, seed: 6, steps: 6, checkpointDir: dir, resume: true })).rejects.toThrow(ParamError);
    await expect(train({ ...base, steps: 6, resume: true })).rejects.toThrow(ParamError);
    const bad = tmp();
    writeFileSync(join(bad, 'checkpoint.bin'), 'not a checkpoint');
    expect(() => readCheckpoint(bad)).toThrow(ParamError);
  });

  test('a few hundred steps on a tiny grammar lower the loss clearly', async () => {
    const progress: number[] = [];
    const result = await train({
      config: { ...config, width: 32 },
      data,
      steps: 300,
      batch: 64,
      lr: 1e-2,
      seed: 1,
      onProgress: (p) => progress.push(p.step),
    });
    expect(progress).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const early = mean(result.losses.slice(0, 20));
    const late = mean(result.losses.slice(-20));
    // Seen: 0.0068 → 0.0044 (the plateau of a 2000-step run is ≈ 0.0043).
    expect(late).toBeLessThan(0.8 * early);
    // Evaluation per time window agrees where the loss carries signal (for t > 100, ᾱ_{t−1} ≈ 0 and
    // both posteriors forget x0: the loss is ≈ 1e−4 whatever the model). Seen: 0.0131 vs 0.0222.
    const windows: [number, number][] = [
      [1, 50],
      [51, 100],
    ];
    const trained = await lossOn(result.params, { ...config, width: 32 }, data, schedule, { tWindows: windows });
    const untrained = await lossOn(initBpUnet({ ...config, width: 32 }, createRng(1, 0)), { ...config, width: 32 }, data, schedule, { tWindows: windows });
    expect(trained.map((w) => w.count)).toEqual([256, 256]);
    expect(trained[0].loss).toBeLessThan(0.8 * untrained[0].loss);
    expect(trained[1].loss).toBeLessThan(untrained[1].loss);
  });

  test('variables round-trip; a wrong shape is a ParamError', () => {
    const params = initBpUnet(config, createRng(2, 0));
    const vars = toVariables(tf, params);
    const back = fromVariables(vars, config);
    expect(Object.keys(back)).toEqual(Object.keys(params));
    for (const k of Object.keys(params)) expect(back[k].data).toEqual(params[k].data);
    disposeVariables(vars);
    expect(() => fromVariables(toVariables(tf, params), { ...config, width: 9 })).toThrow(ParamError);
  });
});
