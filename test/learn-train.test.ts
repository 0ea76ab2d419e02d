import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { ParamError } from '../src/core/errors.ts';
import { generate } from '../src/grammar/generate.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { initBpUnet, paramShapes, type BpUnetConfig, type BpUnetParams } from '../src/learn/bpUnet.ts';
import { bpUnetRows, conv1x1Rows, embeddingAlphaBarOf, convStrideRows, convTransposeStrideRows, normGeluRows } from '../src/learn/bpUnetGraph.ts';
import { d3pmFeeds, d3pmLossGraph } from '../src/learn/bpUnetLoss.ts';
import { bpUnetBatchLoss, bpUnetFeeds } from '../src/learn/bpUnetFeeds.ts';
import { convergence, learningRate, lossOn, TEST_LOSS_SEED, train } from '../src/learn/bpUnetTrain.ts';
import { MASK_TOKEN, noiseTokens, oneHotInput, oneHotRows } from '../src/learn/noiseTokens.ts';
import { discreteSchedule } from '../src/learn/schedule.ts';
import { readCheckpoint } from '../src/nn/checkpoint.ts';
import { Graph, type Value } from '../src/nn/graph.ts';
import { floatTensor } from '../src/nn/runtime.ts';
import { createCpuSession } from '../src/nn/session.ts';
import { referenceForward, referenceLoss } from './helpers/learnTrainReference.ts';
import { mean } from './helpers/arrays.ts';
import { tempDirs } from './helpers/tempDir.ts';
import { monteCarloTolerance } from './tolerance.ts';

const schedule = discreteSchedule();

function randn(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  createRng(seed, 77).fillNormal(out);
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

type Feeds = Record<string, { data: Float32Array; shape: number[] }>;

/**
 * Builds a graph with `build` (the inputs named in `declare` are declared first; `build` may declare
 * the others), emits its scalar and its gradients w.r.t. the trainable inputs `wrt`, and runs it on one thread.
 */
async function graphRunner(build: (g: Graph, inputs: Record<string, Value>) => Value, feeds: Feeds, wrt: string[], declare = Object.keys(feeds)) {
  const g = new Graph();
  const inputs: Record<string, Value> = {};
  for (const [name, f] of Object.entries(feeds)) if (declare.includes(name)) inputs[name] = g.input(name, f.shape, 'float32', { trainable: wrt.includes(name) });
  const y = build(g, inputs);
  const grads = g.gradients(
    y,
    wrt.map((n) => inputs[n]),
  );
  const session = await createCpuSession(g.toOnnx({ name: 't', outputs: [['y', y], ...grads.map((v, i): [string, Value] => [`g${i}`, v])] }), 1);
  const run = async (data: Record<string, Float32Array>) => {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, floatTensor(data[k] ?? f.data, f.shape)])));
    return { y: (out.y.data as Float32Array)[0], grads: wrt.map((_, i) => out[`g${i}`].data as Float32Array) };
  };
  return { run, release: () => session.release() };
}

/**
 * Checks the graph's gradient of the scalar `build` w.r.t. the inputs `wrt` against central finite
 * differences of the same float32 graph, entry by entry.
 *
 * The differences are float32: with h = 1e−2 the rounding error of f (≈ 1e−7·|f|, |f| ≈ 1 … 10
 * here) becomes ≈ 1e−5 … 5e−5 after dividing by 2h, and the truncation error is ≈ h²·|f‴|/6 ≈ 1e−5
 * for these smooth O(1) functions. The tolerance, 5e−4 of the largest gradient entry, leaves a 10×
 * margin and still catches a 1 % error in a backward rule.
 */
async function checkGradient(build: (g: Graph, inputs: Record<string, Value>) => Value, feeds: Feeds, wrt: string[], maxEntries = 12, declare?: string[]): Promise<void> {
  const r = await graphRunner(build, feeds, wrt, declare);
  const base = await r.run({});
  const h = 1e-2;
  for (let k = 0; k < wrt.length; k++) {
    const x = feeds[wrt[k]].data;
    const g = base.grads[k];
    const gmax = Math.max(...Array.from(g, Math.abs), 1e-3);
    for (let i = 0; i < x.length; i += Math.max(1, Math.floor(x.length / maxEntries))) {
      const plus = x.slice();
      const minus = x.slice();
      plus[i] += h;
      minus[i] -= h;
      const fd = ((await r.run({ [wrt[k]]: plus })).y - (await r.run({ [wrt[k]]: minus })).y) / (2 * h);
      expect(Math.abs(fd - g[i]), `${wrt[k]}[${i}]: fd ${fd} vs grad ${g[i]}`).toBeLessThan(5e-4 * gmax);
    }
  }
  await r.release();
}

/** Σ y ⊙ R with a fixed random R: a scalar whose gradient exercises every output entry. */
function probe(g: Graph, y: Value, seed: number): Value {
  const shape = y.shape as number[];
  const r = g.constant(
    randn(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
  return g.reduceSum(
    g.mul(y, r),
    shape.map((_, i) => i),
  );
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

test('learning rate: linear warm-up, then constant or cosine down to 0 at the last step', () => {
  const flat = learningRate(0.01, 4);
  expect([0, 1, 2, 3, 4, 1000].map(flat)).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
  const cos = learningRate(0.01, 4, 'cosine', 24);
  expect(cos(3)).toBe(0.01);
  expect(cos(4)).toBe(0.01);
  expect(cos(14)).toBeCloseTo(0.005, 15);
  expect(cos(23)).toBeCloseTo((0.01 * (1 + Math.cos((Math.PI * 19) / 20))) / 2, 15);
  expect(learningRate(0.01, 0)(0)).toBe(0.01);
});

describe('layers: graph gradients against finite differences', () => {
  test('strided conv, transposed conv, 1×1 conv', async () => {
    // 2 sequences of length 4, 3 → 2 channels, s = 2.
    const h = { data: randn(2 * 4 * 3, 4), shape: [2, 4, 3] };
    await checkGradient((g, x) => probe(g, convStrideRows(g, x.h, x.w), 5), { h, w: { data: randn(2 * 3 * 2, 6), shape: [2, 3, 2] } }, ['h', 'w']);
    await checkGradient((g, x) => probe(g, convTransposeStrideRows(g, x.h, x.w), 7), { h, w: { data: randn(3 * 2 * 2, 8), shape: [3, 2, 2] } }, ['h', 'w']);
    await checkGradient((g, x) => probe(g, conv1x1Rows(g, x.h, x.w, 0.5), 9), { h, w: { data: randn(4 * 3, 10), shape: [4, 3, 1] } }, ['h', 'w']);
  });

  test('LayerNorm over channels + exact GELU', async () => {
    const feeds = {
      h: { data: randn(5 * 6, 11), shape: [1, 5, 6] },
      gamma: { data: randn(6, 12, 0.5).map((a) => a + 1), shape: [6] },
      beta: { data: randn(6, 13, 0.3), shape: [6] },
    };
    await checkGradient((g, x) => probe(g, normGeluRows(g, x.h, x.gamma, x.beta), 14), feeds, ['h', 'gamma', 'beta'], 30);
  });

  test('D3PM loss w.r.t. the logits (both processes)', async () => {
    for (const process of ['uniform', 'mask'] as const) {
      const [n, d, v] = [3, 4, 4];
      const rng = createRng(4, process.length);
      const x0 = Int32Array.from({ length: n * d }, () => rng.nextInt(v));
      const t = Int32Array.from([2, 40, 120]);
      const xt = noiseTokens(process, x0, t, v, schedule, createRng(2));
      const consts = d3pmFeeds(process, x0, xt, t, v, schedule);
      const feeds: Feeds = { logits: { data: randn(n * d * v, 8, 2), shape: [n, d, v] } };
      const g0 = new Graph();
      d3pmLossGraph(g0, process, g0.input('logits', [n, d, v]));
      for (const x of g0.inputs().slice(1)) feeds[x.name] = { data: consts[x.name], shape: x.shape as number[] };
      // The loss is ≈ 1e−2 per token: scale it up so that float32 differences resolve its gradient.
      await checkGradient((g, x) => g.mul(g.reduceSum(d3pmLossGraph(g, process, x.logits), [0]), 100), feeds, ['logits'], 48, ['logits']);
    }
  });
});

const tiny: BpUnetConfig = { vocab: 3, tuple: 2, depth: 2, width: 5, process: 'uniform' };

/** The training graph's forward (rows in, rows out, ᾱ_τ fed) for N datums, logits back in N × v × d. */
async function graphLogits(params: BpUnetParams, config: BpUnetConfig, tokens: Int32Array, tOverT: number[], n: number): Promise<Float32Array> {
  const { vocab: v } = config;
  const d = config.tuple ** config.depth;
  const g = new Graph();
  const x = g.input('x', [n, d, v]);
  const ab = g.input('alpha_bar', [n]);
  const pv: Record<string, Value> = {};
  for (const [name, shape] of paramShapes(config)) pv[name] = g.param(name, shape);
  const y = bpUnetRows(g, pv, config, x, config.process === 'uniform' ? { alphaBar: ab } : null);
  const session = await createCpuSession(g.toOnnx({ name: 'f', outputs: [['y', y]], paramData: params }), 1);
  const out = (await session.run({ x: floatTensor(oneHotRows(tokens, n, v), [n, d, v]), alpha_bar: floatTensor(embeddingAlphaBarOf(tOverT), [n]) })).y.data as Float32Array;
  await session.release();
  const back = new Float32Array(n * v * d);
  for (let i = 0; i < n; i++) for (let p = 0; p < d; p++) for (let b = 0; b < v; b++) back[(i * v + b) * d + p] = out[(i * d + p) * v + b];
  return back;
}

describe('bpUNet forward and loss', () => {
  test.each(['uniform', 'mask'] as const)('the training graph forward equals the float64 PyTorch-semantics reference (%s)', async (process) => {
    const config = { ...tiny, process };
    const params = initBpUnet(config, createRng(3, 0));
    // Nonzero norm biases and non-unit gains, so that the check sees them.
    for (const [name, p] of Object.entries(params)) if (name.includes('norm')) p.data.set(randn(p.data.length, name.length, 0.5).map((a) => a + (name.endsWith('weight') ? 1 : 0)));
    const n = 3;
    const d = 4;
    const tokens = Int32Array.from({ length: n * d }, (_, i) => (process === 'mask' && i % 3 === 1 ? MASK_TOKEN : (i * 7) % 3));
    const times = [0.005, 0.5, 1];
    const input = oneHotInput(tokens, n, 3);
    const got = await graphLogits(params, config, tokens, times, n);
    // float32 graph vs float64: ~1e−6 relative per op over 8 layers; 1e−5 absolute on O(1) logits.
    for (let i = 0; i < n; i++) {
      const x = Array.from({ length: 3 }, (_, b) => Float64Array.from({ length: d }, (_, p) => input[(i * 3 + b) * d + p]));
      const want = referenceForward(params, config, x, times[i]);
      for (let b = 0; b < 3; b++) for (let p = 0; p < d; p++) expect(got[(i * 3 + b) * d + p]).toBeCloseTo(want[b][p], 5);
    }
  });

  test('full loss gradient w.r.t. parameters against finite differences of the float64 reference (both processes)', async () => {
    // The loss is a KL of two nearly equal posteriors: its value is a difference of O(1) terms that
    // cancel to ≈ 0.01, so float32 differences of the graph's loss would be dominated by rounding.
    // The differences are taken on the float64 reference (same function: see the forward test) with
    // h = 1e−3, exact to ≈ h² ≈ 1e−6 relative; the graph's gradient is float32 (≈ 1e−6 relative),
    // so a 1 % tolerance (plus 1e−3 of the largest entry) is generous for rounding and tight for any
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
      const shapes = paramShapes(config);
      const g = new Graph();
      const pv: Record<string, Value> = {};
      for (const [name, shape] of shapes) pv[name] = g.param(name, shape);
      const loss = bpUnetBatchLoss(g, pv, config, n);
      const grads = g.gradients(
        loss,
        shapes.map(([name]) => pv[name]),
      );
      const session = await createCpuSession(g.toOnnx({ name: 'l', outputs: [['loss', loss], ...grads.map((v, i): [string, Value] => [`g${i}`, v])] }), 1);
      const feeds = bpUnetFeeds(config, x0, xt, t, schedule);
      const out = await session.run({
        ...Object.fromEntries(g.inputs().map((x) => [x.name, floatTensor(feeds[x.name], x.shape as number[])])),
        ...Object.fromEntries(shapes.map(([name, shape]) => [name, floatTensor(params[name].data, shape)])),
      });
      await session.release();
      const reference = () => {
        const logits = Array.from({ length: n }, (_, i) =>
          referenceForward(
            params,
            config,
            Array.from({ length: 3 }, (_, b) => Float64Array.from({ length: d }, (_, p) => input[(i * 3 + b) * d + p])),
            tOverT[i],
          ).map((r) => Array.from(r)),
        );
        return referenceLoss(process, logits, x0, xt, t, schedule);
      };
      // The loss itself: float32 sums of per-token KLs against the float64 reference.
      expect(Math.abs((out.loss.data as Float32Array)[0] - reference())).toBeLessThan(1e-5 * reference() + 1e-7);
      const names = ['embed.weight', 'down.0.conv.weight', 'down.1.norm.weight', 'up.0.conv.weight', 'up.1.norm.bias', 'readout.weight'];
      for (const name of names) {
        const w = params[name].data;
        const gr = out[`g${shapes.findIndex(([k]) => k === name)}`].data as Float32Array;
        const gmax = Math.max(...Array.from(gr, Math.abs));
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
          expect(Math.abs(fd - gr[i]), `${process} ${name}[${i}]: fd ${fd} vs grad ${gr[i]}`).toBeLessThan(1e-3 * gmax + 1e-2 * Math.abs(gr[i]));
        }
      }
    }
  });

  test('loss equals the float64 reference, is ≥ 0, and vanishes for x̂0 = onehot(x0)', async () => {
    for (const process of ['uniform', 'mask'] as const) {
      const n = 6;
      const v = 4;
      const d = 8;
      const rng = createRng(4, process.length);
      const x0 = Int32Array.from({ length: n * d }, () => rng.nextInt(v));
      const t = Int32Array.from([1, 2, 40, 100, 150, 200]);
      const xt = noiseTokens(process, x0, t, v, schedule, rng);
      if (process === 'mask') expect(xt.some((a) => a === MASK_TOKEN)).toBe(true);
      const consts = d3pmFeeds(process, x0, xt, t, v, schedule);
      const g = new Graph();
      const logitsIn = g.input('logits', [n, d, v]);
      const loss = g.mul(g.reduceSum(d3pmLossGraph(g, process, logitsIn), [0]), 1 / (n * d));
      const session = await createCpuSession(g.toOnnx({ name: 'l', outputs: [['loss', loss]] }), 1);
      const run = async (rows: Float32Array) =>
        (
          (
            await session.run({
              logits: floatTensor(rows, [n, d, v]),
              ...Object.fromEntries(
                g
                  .inputs()
                  .slice(1)
                  .map((x) => [x.name, floatTensor(consts[x.name], x.shape as number[])]),
              ),
            })
          ).loss.data as Float32Array
        )[0];
      const raw = randn(n * v * d, 31 + process.length, 2); // channel-first [n][v][d]
      const rows = new Float32Array(n * d * v);
      for (let i = 0; i < n; i++) for (let b = 0; b < v; b++) for (let p = 0; p < d; p++) rows[(i * d + p) * v + b] = raw[(i * v + b) * d + p];
      const got = await run(rows);
      const nested = Array.from({ length: n }, (_, i) => Array.from({ length: v }, (_, b) => Array.from({ length: d }, (_, p) => raw[(i * v + b) * d + p])));
      const want = referenceLoss(process, nested, x0, xt, t, schedule);
      expect(got).toBeGreaterThan(0);
      expect(Math.abs(got - want)).toBeLessThan(1e-5 * want + 1e-7);
      // logits = 30·onehot(x0): softmax is onehot(x0) to float32 precision (e^−30 ≈ 1e−13), so only
      // float32 rounding of the model's posterior remains (≈ 1e−7 per token).
      const perfect = new Float32Array(n * d * v);
      for (let r = 0; r < n * d; r++) perfect[r * v + x0[r]] = 30;
      expect(Math.abs(await run(perfect))).toBeLessThan(1e-6);
      await session.release();
    }
  });

  test('noise: flip rates follow ᾱ_t; bad inputs are ParamErrors', () => {
    const n = 4000;
    const x0 = new Int32Array(n).fill(2);
    const t = new Int32Array(n).fill(30);
    const ab = schedule.alphaBar[30];
    const uni = noiseTokens('uniform', x0, t, 4, schedule, createRng(1));
    const changed = uni.filter((a) => a !== 2).length / n;
    expect(Math.abs(changed - (1 - ab) * 0.75)).toBeLessThan(monteCarloTolerance((1 - ab) * 0.75, n));
    const masked = noiseTokens('mask', x0, t, 4, schedule, createRng(1)).filter((a) => a === MASK_TOKEN).length / n;
    expect(Math.abs(masked - (1 - ab))).toBeLessThan(monteCarloTolerance(1 - ab, n));
    expect(() => noiseTokens('uniform', x0, [201], 4, schedule, createRng(1))).toThrow(ParamError);
    expect(() => oneHotInput(Int32Array.from([0, 5]), 1, 4)).toThrow(ParamError);
    expect(() => oneHotRows(Int32Array.from([0, 5]), 1, 4)).toThrow(ParamError);
  });
});

describe('training', () => {
  const grammar = sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 7);
  const data = generate(grammar, 256, createRng(11)).levels[2];
  const config: BpUnetConfig = { vocab: 4, tuple: 2, depth: 2, width: 8, process: 'uniform' };
  const tmp = tempDirs('hierdiff-learn-');

  test('resume: 3 steps + checkpoint + 3 steps = 6 steps, bit for bit; same seed, same curve', async () => {
    const base = { config, data, batch: 8, lr: 1e-2, warmup: 2, seed: 5, threads: 2 };
    const full = await train({ ...base, steps: 6 });
    const again = await train({ ...base, steps: 6 });
    expect(again.losses).toEqual(full.losses);
    const dir = tmp();
    const first = await train({ ...base, steps: 3, checkpointDir: dir, checkpointEvery: 2 });
    expect(first.losses).toEqual(full.losses.slice(0, 3));
    const ck = readCheckpoint(dir, paramShapes(config));
    expect(ck.header.step).toBe(3);
    expect(ck.header.losses).toEqual(full.losses.slice(0, 3));
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).step).toBe(3);
    const resumed = await train({ ...base, steps: 6, checkpointDir: dir, resume: true });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.losses).toEqual(full.losses);
    for (const [name, p] of Object.entries(full.params)) {
      expect(Buffer.from(resumed.params[name].data.buffer).equals(Buffer.from(p.data.buffer)), name).toBe(true);
    }
    // The weights moved; another seed, other data or another width cannot resume this checkpoint.
    expect(Buffer.from(full.params['down.0.conv.weight'].data.buffer).equals(Buffer.from(initBpUnet(config, createRng(5, 0))['down.0.conv.weight'].data.buffer))).toBe(false);
    await expect(train({ ...base, seed: 6, steps: 6, checkpointDir: dir, resume: true })).rejects.toThrow(ParamError);
    await expect(train({ ...base, data: data.slice(0, 128), steps: 6, checkpointDir: dir, resume: true })).rejects.toThrow(/dataCount|dataHash/);
    await expect(train({ ...base, config: { ...config, width: 9 }, steps: 6, checkpointDir: dir, resume: true })).rejects.toThrow(ParamError);
    await expect(train({ ...base, steps: 6, resume: true })).rejects.toThrow(ParamError);
    // A cosine decay depends on the run's length: extending such a run is refused.
    const cosDir = tmp();
    await train({ ...base, decay: 'cosine', steps: 2, checkpointDir: cosDir });
    await expect(train({ ...base, decay: 'cosine', steps: 4, checkpointDir: cosDir, resume: true })).rejects.toThrow(/decaySteps/);
    const bad = tmp();
    writeFileSync(join(bad, 'checkpoint.bin'), 'not a checkpoint');
    expect(() => readCheckpoint(bad, paramShapes(config))).toThrow(ParamError);
  });

  test('held-out loss curve: measured every k steps and at the end, on the weights of that step; a resumed run keeps the curve', async () => {
    const heldOut = generate(grammar, 64, createRng(12)).levels[2];
    const base = { config, data, batch: 8, lr: 1e-2, warmup: 2, seed: 5, threads: 1, test: { data: heldOut, every: 2 } };
    const full = await train({ ...base, steps: 5 });
    expect(full.testLoss.map((p) => p.step)).toEqual([2, 4, 5]);
    // The last point is lossOn of the returned weights with the documented draws.
    const [end] = await lossOn(full.params, config, heldOut, schedule, { tWindows: [[1, schedule.steps]], seed: TEST_LOSS_SEED, threads: 1 });
    expect(full.testLoss[2].value).toBe(end.loss);
    // The monitor does not change the training itself.
    const plain = await train({ ...base, test: undefined, steps: 5 });
    expect(plain.losses).toEqual(full.losses);
    expect(plain.testLoss).toEqual([]);
    const dir = tmp();
    // Interrupted after the checkpoint of step 3 (as Ctrl-C would), then resumed.
    const stop = (p: { step: number }) => {
      if (p.step === 3) throw new Error('interrupted');
    };
    await expect(train({ ...base, steps: 5, checkpointDir: dir, checkpointEvery: 3, onProgress: stop })).rejects.toThrow('interrupted');
    const resumed = await train({ ...base, steps: 5, checkpointDir: dir, resume: true });
    expect(resumed.testLoss).toEqual(full.testLoss);
    // Another held-out set or cadence cannot continue that curve.
    await expect(train({ ...base, test: { data: heldOut, every: 3 }, steps: 5, checkpointDir: dir, resume: true })).rejects.toThrow(/testEvery/);
  });

  test('convergence: the mean held-out loss no longer falls over the last 20 % of the steps', () => {
    const curve = (values: number[]) => values.map((value, i) => ({ step: (i + 1) * 100, value }));
    // 10 points over 1000 steps: steps 700 and 800 against 900 and 1000.
    const flat = convergence(curve([5, 4, 3, 2.5, 2.2, 2.1, 2.02, 2.0, 1.995, 1.99]), 1000);
    expect(flat!.converged).toBe(true);
    expect(flat!.before).toBeCloseTo(2.01, 12);
    expect(flat!.last).toBeCloseTo(1.9925, 12);
    expect(flat!.relativeFall).toBeCloseTo(0.0175 / 2.01, 12);
    expect(flat!.rule).toContain('over steps 800–1000');
    expect(flat!.rule).toContain('over steps 600–800');
    // Still falling: the means go from 2.025 to 1.85.
    expect(convergence(curve([5, 4, 3, 2.5, 2.2, 2.1, 2.05, 2.0, 1.9, 1.8]), 1000)!.converged).toBe(false);
    // A held-out loss that rises again (over-fitting) no longer falls: converged.
    const rising = convergence(curve([5, 4, 3, 2.5, 2.2, 2.1, 2.05, 2.0, 2.1, 2.2]), 1000)!;
    expect(rising.converged).toBe(true);
    expect(rising.relativeFall).toBeLessThan(0);
    expect(convergence(curve([5]), 1000)).toBeNull();
    expect(convergence(curve([5, 4, 3, 2]), 1000)).toBeNull();
  });

  test('a few hundred steps on a tiny grammar lower the loss clearly', async () => {
    const progress: number[] = [];
    const wide = { ...config, width: 32 };
    const result = await train({ config: wide, data, steps: 300, batch: 64, lr: 1e-2, seed: 1, threads: 2, onProgress: (p) => progress.push(p.step) });
    expect(progress).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const early = mean(result.losses.slice(0, 20));
    const late = mean(result.losses.slice(-20));
    expect(late).toBeLessThan(0.8 * early);
    // Evaluation per time window agrees where the loss carries signal (for t > 100, ᾱ_{t−1} ≈ 0 and
    // both posteriors forget x0: the loss is ≈ 1e−4 whatever the model).
    const windows: [number, number][] = [
      [1, 50],
      [51, 100],
    ];
    const trained = await lossOn(result.params, wide, data, schedule, { tWindows: windows, threads: 1 });
    const untrained = await lossOn(initBpUnet(wide, createRng(1, 0)), wide, data, schedule, { tWindows: windows, threads: 1 });
    expect(trained.map((w) => w.count)).toEqual([256, 256]);
    expect(trained[0].loss).toBeLessThan(0.8 * untrained[0].loss);
    expect(trained[1].loss).toBeLessThan(untrained[1].loss);
    // The per-datum sums make the result independent of the evaluation batch (up to float32 summation order).
    const small = await lossOn(result.params, wide, data, schedule, { tWindows: windows, threads: 1, batch: 37 });
    small.forEach((w, i) => expect(Math.abs(w.loss - trained[i].loss)).toBeLessThan(1e-6 * trained[i].loss));
  });
});
