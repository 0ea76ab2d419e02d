import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { createRng } from '../src/core/random.ts';
import { readCheckpoint } from '../src/nn/checkpoint.ts';
import { Graph, type Value } from '../src/nn/graph.ts';
import { initNamedParams, type ParamShapes } from '../src/nn/params.ts';
import { floatTensor } from '../src/nn/runtime.ts';
import { createCpuSession } from '../src/nn/session.ts';
import { trainModel, TrainingDivergedError, type TrainSpec } from '../src/nn/train.ts';
import { FINITE_DIFFERENCE_F32 } from './tolerance.ts';
import { elementCount } from './helpers/arrays.ts';
import { tempDirs } from './helpers/tempDir.ts';

/**
 * src/nn/: every backward rule against central finite differences, the graph's export with a
 * symbolic batch, and the training loop (determinism, resume, checkpoints, divergence).
 */

type Build = (g: Graph, x: Value[]) => Value;

/**
 * Checks the gradients of L = Σ r ⊙ f(x…) (r fixed random weights, so every output element
 * matters) with respect to every input, along random directions u: the rule's ⟨∇L, u⟩ against
 * the central difference (L(x + hu) − L(x − hu))/(2h), all in float32 on onnxruntime.
 */
async function checkGradients(shapes: number[][], build: Build, { positive = false, awayFromZero = false, seed = 1 } = {}): Promise<void> {
  const g = new Graph();
  const xs = shapes.map((s, i) => g.input(`x${i}`, s, 'float32', { trainable: true }));
  const y = build(g, xs);
  const r = g.input('r', y.shape as number[]);
  const loss = g.reduceSum(
    g.mul(y, r),
    y.shape.map((_, i) => i),
  );
  const grads = g.gradients(loss, xs);
  const session = await createCpuSession(g.toOnnx({ name: 'check', outputs: [['loss', loss], ...grads.map((v, i): [string, Value] => [`g${i}`, v])] }), 1);
  const rng = createRng(seed, 7);
  const draw = (n: number) => {
    const a = new Float32Array(n);
    rng.fillNormal(a);
    if (positive) for (let i = 0; i < n; i++) a[i] = 1 + Math.abs(a[i]);
    if (awayFromZero) for (let i = 0; i < n; i++) a[i] = Math.sign(a[i]) * (0.2 + Math.abs(a[i]));
    return a;
  };
  const base = xs.map((x) => draw(elementCount(x.shape)));
  const feeds = (xsData: Float32Array[]) => ({
    ...Object.fromEntries(xs.map((x, i) => [x.name, floatTensor(xsData[i], x.shape as number[])])),
    r: floatTensor(rData, y.shape as number[]),
  });
  const rData = draw(elementCount(y.shape));
  const out = await session.run(feeds(base));
  const h = 1e-2;
  for (let i = 0; i < xs.length; i++) {
    for (let trial = 0; trial < 2; trial++) {
      const u = draw(base[i].length);
      const gi = out[`g${i}`].data as Float32Array;
      let dot = 0;
      for (let j = 0; j < u.length; j++) dot += gi[j] * u[j];
      const at = async (sign: number) => {
        const moved = base.map((b, k) => (k === i ? Float32Array.from(b, (v, j) => v + sign * h * u[j]) : b));
        return ((await session.run(feeds(moved))).loss.data as Float32Array)[0];
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * h);
      expect(Math.abs(fd - dot), `input ${i}: rule ${dot}, finite difference ${fd}`).toBeLessThanOrEqual(FINITE_DIFFERENCE_F32 * Math.max(1, Math.abs(dot)));
    }
  }
  await session.release();
}

describe('backward rules against central finite differences (float32)', () => {
  test('elementwise ops with broadcasting', async () => {
    await checkGradients([[3, 4], [4]], (g, [a, b]) => g.add(a, b));
    await checkGradients(
      [
        [3, 4],
        [3, 1],
      ],
      (g, [a, b]) => g.sub(a, b),
    );
    await checkGradients(
      [
        [2, 3, 4],
        [1, 3, 1],
      ],
      (g, [a, b]) => g.mul(a, b),
    );
    await checkGradients([[3, 4], [4]], (g, [a, b]) => g.div(a, b), { positive: true });
    await checkGradients([[3, 4]], (g, [a]) => g.mul(g.neg(a), 3));
    await checkGradients([[3, 4]], (g, [a]) => g.sub(1, g.div(2, a)), { positive: true });
  });

  test('activations and elementwise functions', async () => {
    await checkGradients([[5, 6]], (g, [a]) => g.sigmoid(a));
    await checkGradients([[5, 6]], (g, [a]) => g.tanh(a));
    await checkGradients([[5, 6]], (g, [a]) => g.relu(a), { awayFromZero: true });
    await checkGradients([[5, 6]], (g, [a]) => g.exp(g.mul(a, 0.5)));
    await checkGradients([[5, 6]], (g, [a]) => g.log(a), { positive: true });
    await checkGradients([[5, 6]], (g, [a]) => g.sqrt(a), { positive: true });
    await checkGradients([[5, 6]], (g, [a]) => g.erf(a));
    await checkGradients([[5, 6]], (g, [a]) => g.silu(a));
    await checkGradients([[5, 6]], (g, [a]) => g.gelu(a));
  });

  test('shape ops', async () => {
    await checkGradients([[2, 3, 4]], (g, [a]) => g.reshape(a, [0, -1]));
    await checkGradients([[2, 3, 4]], (g, [a]) => g.transpose(a, [2, 0, 1]));
    await checkGradients([[3, 4]], (g, [a]) =>
      g.mul(
        g.unsqueeze(a, [0, 3]),
        g.constant(
          Float32Array.from({ length: 24 }, (_, i) => i / 10),
          [2, 3, 4, 1],
        ),
      ),
    );
    await checkGradients(
      [
        [2, 3, 4],
        [2, 1, 4],
        [2, 2, 4],
      ],
      (g, [a, b, c]) => g.concat([a, b, c], 1),
    );
    await checkGradients([[3, 6]], (g, [a]) => g.slice(a, [1, 2], [3, 5], [0, 1]));
    await checkGradients([[2, 3]], (g, [a]) => g.pad(a, [1, 0, 0, 2]));
    await checkGradients([[3, 1]], (g, [a]) => g.expand(a, [2, 3, 4]));
  });

  test('reductions', async () => {
    await checkGradients([[2, 3, 4]], (g, [a]) => g.reduceSum(a, [0, 2]));
    await checkGradients([[2, 3, 4]], (g, [a]) => g.reduceSum(a, [1], true));
    await checkGradients([[2, 3, 4]], (g, [a]) => g.reduceMean(a, [-1], true));
    await checkGradients([[2, 3, 4]], (g, [a]) => g.mean(g.mul(a, a)));
  });

  test('matrix products', async () => {
    await checkGradients(
      [
        [3, 4],
        [4, 5],
      ],
      (g, [a, b]) => g.matmul(a, b),
    );
    await checkGradients(
      [
        [2, 3, 4],
        [4, 5],
      ],
      (g, [a, b]) => g.matmul(a, b),
    );
    await checkGradients(
      [
        [2, 1, 3, 4],
        [3, 4, 2],
      ],
      (g, [a, b]) => g.matmul(a, b),
    );
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        await checkGradients([transA ? [4, 3] : [3, 4], transB ? [5, 4] : [4, 5], [5]], (g, [a, b, c]) => g.gemm(a, b, c, { transA, transB }));
      }
    }
    await checkGradients([[3, 4], [5, 4], [5]], (g, [x, w, b]) => g.linear(x, w, b));
  });

  test('convolutions', async () => {
    await checkGradients([[2, 3, 5, 6], [4, 3, 3, 3], [4]], (g, [x, w, b]) => g.conv(x, w, b, { pads: [1, 1] }));
    await checkGradients(
      [
        [2, 3, 5, 6],
        [4, 3, 3, 3],
      ],
      (g, [x, w]) => g.conv(x, w, null),
    );
    // Both im2col branches of the weight gradient: fewer output than input channels, and equal.
    await checkGradients([[2, 4, 5, 6], [2, 4, 3, 3], [2]], (g, [x, w, b]) => g.conv(x, w, b, { pads: [1, 1] }));
    await checkGradients(
      [
        [2, 3, 4, 4],
        [3, 3, 3, 3],
      ],
      (g, [x, w]) => g.conv(x, w, null, { pads: [1, 1] }),
    );
    await checkGradients(
      [
        [2, 4, 6, 5],
        [3, 4, 3, 3],
      ],
      (g, [x, w]) => g.conv(x, w, null),
    );
    await checkGradients(
      [
        [2, 3, 7],
        [4, 3, 3],
      ],
      (g, [x, w]) => g.conv(x, w, null, { pads: [1] }),
    );
    await checkGradients([[2, 3, 4, 4], [5, 3, 1, 1], [5]], (g, [x, w, b]) => g.conv(x, w, b));
    await checkGradients(
      [
        [2, 3, 8],
        [4, 3, 2],
      ],
      (g, [x, w]) => g.conv(x, w, null, { strides: [2] }),
    );
    await checkGradients(
      [
        [2, 3, 4, 6],
        [4, 3, 2, 2],
      ],
      (g, [x, w]) => g.conv(x, w, null, { strides: [2, 2] }),
    );
    await checkGradients(
      [
        [2, 3, 5],
        [3, 4, 2],
      ],
      (g, [x, w]) => g.convTranspose(x, w, { strides: [2] }),
    );
    await checkGradients(
      [
        [2, 3, 2, 3],
        [3, 4, 2, 2],
      ],
      (g, [x, w]) => g.convTranspose(x, w, { strides: [2, 2] }),
    );
  });

  test('pooling and upsampling', async () => {
    await checkGradients([[2, 3, 4, 6]], (g, [x]) => g.avgPool(x, 2));
    await checkGradients([[2, 3, 2, 3]], (g, [x]) => g.upsample(x, 2));
  });

  test('normalisation and softmax', async () => {
    await checkGradients([[2, 3, 6], [6], [6]], (g, [x, s, b]) => g.layerNorm(x, s, b, 1e-5));
    await checkGradients([[4, 5]], (g, [x]) => g.layerNorm(x, null, null, 1e-5));
    await checkGradients([[2, 4, 3, 3], [4], [4]], (g, [x, s, b]) => g.groupNorm(x, s, b, 2, 1e-5));
    await checkGradients([[3, 5]], (g, [x]) => g.softmax(x, 1));
    await checkGradients([[3, 5, 2]], (g, [x]) => g.softmax(x, 1));
    await checkGradients([[3, 5]], (g, [x]) => g.logSoftmax(x, -1));
  });

  test('a value used several times sums its gradients', async () => {
    await checkGradients([[3, 4]], (g, [a]) => g.mul(g.add(a, g.sigmoid(a)), g.tanh(a)));
  });
});

describe('export with a symbolic batch', () => {
  test('one graph runs at any batch size; shapes that cannot be inferred are named errors', async () => {
    const g = new Graph();
    const x = g.input('x', ['N', 2, 4, 4]);
    const w = g.param('w', [4, 2, 3, 3]);
    const gamma = g.param('n.weight', [4]);
    const beta = g.param('n.bias', [4]);
    const y = g.avgPool(g.silu(g.groupNorm(g.conv(x, w, null, { pads: [1, 1] }), gamma, beta, 2, 1e-5)), 2);
    expect(y.shape).toEqual(['N', 4, 2, 2]);
    const params = initNamedParams(
      [
        ['w', [4, 2, 3, 3]],
        ['n.weight', [4]],
        ['n.bias', [4]],
      ],
      createRng(3, 0),
    );
    const session = await createCpuSession(g.toOnnx({ name: 'sym', outputs: [['y', y]], paramData: params }), 1);
    for (const n of [1, 3]) {
      const out = await session.run({ x: floatTensor(new Float32Array(n * 32).fill(0.5), [n, 2, 4, 4]) });
      expect(out.y.dims).toEqual([n, 4, 2, 2]);
    }
    await session.release();
    expect(() => g.reshape(x, [-1, 16])).toThrow(/symbolic dim must be kept with 0/);
    expect(() => g.add(x, g.input('z', [3, 4]))).toThrow(/do not broadcast/);
  });
});

describe('the training loop', () => {
  const tmp = tempDirs('hierdiff-nn-');
  const shapes: ParamShapes = [
    ['c1.weight', [8, 1, 3, 3]],
    ['c1.bias', [8]],
    ['n.weight', [8]],
    ['n.bias', [8]],
    ['c2.weight', [1, 8, 3, 3]],
    ['c2.bias', [1]],
  ];
  const B = 8;
  const spec = (over: Partial<TrainSpec>): TrainSpec => ({
    model: 'toy',
    config: { width: 8 },
    shapes,
    init: initNamedParams(shapes, createRng(1, 0)),
    settings: { seed: 1 },
    steps: 6,
    batch: B,
    threads: 2,
    checkpointEvery: 3,
    lr: 1e-2,
    emaDecay: 0.99,
    lossGraph: (g, p) => {
      const x = g.input('x', [B, 1, 8, 8]);
      const y = g.input('y', [B, 1, 8, 8]);
      let h = g.conv(x, p['c1.weight'], p['c1.bias'], { pads: [1, 1] });
      h = g.silu(g.groupNorm(h, p['n.weight'], p['n.bias'], 2, 1e-5));
      const d = g.sub(g.conv(h, p['c2.weight'], p['c2.bias'], { pads: [1, 1] }), y);
      return g.mean(g.mul(d, d));
    },
    feeds: (k) => {
      const x = new Float32Array(B * 64);
      createRng(1, 1, k).fillNormal(x);
      return { x, y: Float32Array.from(x, (v, i) => Math.tanh(v + (i % 8 > 3 ? 1 : -1))) };
    },
    ...over,
  });
  const same = (a: Record<string, { data: Float32Array }>, b: Record<string, { data: Float32Array }>) => shapes.every(([n]) => a[n].data.every((v, i) => Object.is(v, b[n].data[i])));

  test('same settings and threads, same weights; cut at a checkpoint and resumed, the same weights bit for bit (1 and 2 threads)', async () => {
    for (const threads of [1, 2]) {
      const full = await trainModel(spec({ threads, checkpointDir: tmp() }));
      const again = await trainModel(spec({ threads }));
      const dir = tmp();
      await trainModel(spec({ threads, steps: 3, checkpointDir: dir }));
      const resumed = await trainModel(spec({ threads, checkpointDir: dir, resume: true }));
      expect(resumed.resumedFrom).toBe(3);
      expect(resumed.losses).toEqual(full.losses);
      expect(same(full.params, again.params)).toBe(true);
      expect(same(full.params, resumed.params) && same(full.ema, resumed.ema)).toBe(true);
      expect(full.losses[5]).toBeLessThan(full.losses[0]);
    }
  });

  test('checkpoints of another model, config, settings or format are one-line ParamErrors', async () => {
    const dir = tmp();
    await trainModel(spec({ steps: 3, checkpointDir: dir }));
    expect(readCheckpoint(dir, shapes).header.step).toBe(3);
    await expect(trainModel(spec({ model: 'other', checkpointDir: dir, resume: true }))).rejects.toThrow(/checkpoint trains toy, this run other/);
    await expect(trainModel(spec({ config: { width: 9 }, checkpointDir: dir, resume: true }))).rejects.toThrow(/another other config|another toy config/);
    await expect(trainModel(spec({ settings: { seed: 2 }, checkpointDir: dir, resume: true }))).rejects.toThrow(/checkpoint has seed 1, this run 2/);
    expect(() => readCheckpoint(dir, shapes.slice(1))).toThrow(/tensors are not those of this model/);
    const bin = join(dir, 'checkpoint.bin');
    const bytes = readFileSync(bin);
    writeFileSync(bin, Buffer.concat([Buffer.from('HDBPUN01'), bytes.subarray(8)]));
    expect(() => readCheckpoint(dir, shapes)).toThrow(/written by another version of hierdiff/);
    writeFileSync(bin, bytes.subarray(0, bytes.length - 10));
    expect(() => readCheckpoint(dir, shapes)).toThrow(/truncated data/);
    for (const e of [() => readCheckpoint(dir, shapes)]) expect(e).toThrow(ParamError);
  });

  test('a loss that becomes NaN stops training, naming the step and the last good checkpoint', async () => {
    const dir = tmp();
    const run = trainModel(spec({ checkpointDir: dir, feeds: (k) => ({ x: new Float32Array(B * 64).fill(k >= 4 ? Number.NaN : 0.5), y: new Float32Array(B * 64) }) }));
    await expect(run).rejects.toThrow(TrainingDivergedError);
    await expect(trainModel(spec({ checkpointDir: tmp(), feeds: (k) => ({ x: new Float32Array(B * 64).fill(k >= 4 ? Number.NaN : 0.5), y: new Float32Array(B * 64) }) }))).rejects.toThrow(
      /diverged at step 5 .*last good checkpoint is step 3/,
    );
    expect(readCheckpoint(dir, shapes).header.step).toBe(3);
  });

  test('feeds of the wrong size are ParamErrors', async () => {
    await expect(trainModel(spec({ feeds: () => ({ x: new Float32Array(3), y: new Float32Array(B * 64) }) }))).rejects.toThrow(/training input x: expected 512 float32 values/);
  });
});
