import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { createRng } from '../src/core/random.ts';
import { OnnxGraphBuilder } from '../src/nn/graphBuilder.ts';
import { embeddingAlphaBar, embeddingIndex, initBpUnet, paramShapes, timeEmbeddingConstants, type BpUnetConfig, type LearnProcess } from '../src/learn/bpUnet.ts';
import { oneHot } from '../src/learn/logitsModel.ts';
import { BPUNET_GRAPH_NAME, bpUnetToOnnx } from '../src/learn/bpUnetOnnx.ts';
import { bpUnetRows, embeddingAlphaBarOf } from '../src/learn/bpUnetGraph.ts';
import { oneHotRows } from '../src/learn/noiseTokens.ts';
import { Graph, type Value } from '../src/nn/graph.ts';
import { floatTensor } from '../src/nn/runtime.ts';
import { createCpuSession } from '../src/nn/session.ts';
import { OnnxRhmDenoiser, readOnnxMetadata } from '../src/learn/onnxDenoiser.ts';
import {
  checkBpUnetParams,
  conv1d,
  convTranspose1d,
  erf,
  gelu,
  layerNormChannels,
  referenceLogits,
  referenceTimeIndex,
  ReferenceModel,
  timeEmbedding,
  type Activation,
} from '../src/learn/bpUnetReference.ts';
import { paramErrorAsync as paramError } from './helpers/errors.ts';
import { randomParams } from './helpers/random.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-learn-onnx-');

function save(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** n random sequences one-hot encoded; for the mask process about a third of the tokens masked. */
function randomInput(n: number, v: number, d: number, process: LearnProcess, seed: number): Float32Array {
  const rng = createRng(seed);
  const tokens = Int32Array.from({ length: n * d }, () => (process === 'mask' && rng.nextFloat() < 0.35 ? -1 : rng.nextInt(v)));
  return oneHot(tokens, n, v, d);
}

const act = (channels: number, length: number, values: number[]): Activation => ({ channels, length, data: Float64Array.from(values) });
const param = (shape: number[], values: number[]) => ({ shape, data: Float32Array.from(values) });

describe('reference building blocks', () => {
  it('erf matches known values to 1e-12 (CPython math.erf)', () => {
    const known: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [-1.5, -0.9661051464753108],
      [4, 0.9999999845827421],
      [7, 1],
      [-9, -1],
    ];
    for (const [x, y] of known) expect(Math.abs(erf(x) - y)).toBeLessThan(1e-12);
    // Φ(1) = 0.8413447460685429: GELU is the exact x·Φ(x).
    expect(Math.abs(gelu(1) - 0.8413447460685429)).toBeLessThan(1e-12);
    expect(Math.abs(gelu(-1) + 1 - 0.8413447460685429)).toBeLessThan(1e-12);
  });

  it('conv1d: kernel s, stride s, weight [O, C, k]', () => {
    // in (C = 1, L = 4) = [1, 2, 3, 4], w[0, 0, :] = [10, 1], w[1, 0, :] = [0, -1].
    const out = conv1d(act(1, 4, [1, 2, 3, 4]), param([2, 1, 2], [10, 1, 0, -1]), 2);
    expect(out.channels).toBe(2);
    expect(out.length).toBe(2);
    expect([...out.data]).toEqual([12, 34, -2, -4]);
  });

  it('convTranspose1d: out[o, p·s + k] = Σ_c in[c, p]·w[c, o, k], weight [C_in, C_out, k]', () => {
    // in = [[1, 2], [3, 4]], w[c, o, k] = 1 + 6c + 2o + k (values 1 … 12 in order).
    const out = convTranspose1d(
      act(2, 2, [1, 2, 3, 4]),
      param(
        [2, 3, 2],
        Array.from({ length: 12 }, (_, k) => k + 1),
      ),
      2,
    );
    expect(out.channels).toBe(3);
    expect(out.length).toBe(4);
    // By hand, e.g. out[0, 0] = 1·1 + 3·7, out[2, 3] = 2·6 + 4·12.
    expect([...out.data]).toEqual([22, 26, 30, 36, 30, 34, 42, 48, 38, 42, 54, 60]);
  });

  it('layerNormChannels normalises over channels at each position, affine', () => {
    // Position 0: [1, 3] (mean 2, var 1); position 1: [5, 5] (var 0: only eps remains).
    const out = layerNormChannels(act(2, 2, [1, 5, 3, 5]), param([2], [2, 1]), param([2], [0, 0.5]));
    const s = Math.sqrt(1 + 1e-5);
    const expected = [-2 / s, 0, 1 / s + 0.5, 0.5];
    out.data.forEach((y, k) => expect(y).toBeCloseTo(expected[k], 14));
  });

  it('time embedding at t/T = 0.5 uses τ = 500; the mask process ignores t', () => {
    expect(referenceTimeIndex(0.5)).toBe(500);
    expect([referenceTimeIndex(0), referenceTimeIndex(1), referenceTimeIndex(1.5), referenceTimeIndex(-0.1)]).toEqual([0, 1000, 1000, 0]);
    // float32(1/200)·1000 = 4.99999989 exactly but 5 in float32, as the models compute it (a float64
    // product would say 4); bpUnet.ts's embeddingIndex computes it the float32 way too.
    expect(referenceTimeIndex(1 / 200)).toBe(5);
    expect(embeddingIndex(1 / 200)).toBe(5);
    for (let i = 0; i <= 200; i++) expect(embeddingIndex(i / 200)).toBe(referenceTimeIndex(i / 200));

    const v = 4;
    const { mu, sigma } = timeEmbeddingConstants(v);
    const ab = embeddingAlphaBar()[500];
    // d = 2: column 0 is token 2, column 1 is masked (all zero).
    const x = [0, 0, 0, 0, 1, 0, 0, 0];
    const uni = timeEmbedding(x, 0.5, v, 2, 'uniform');
    for (let b = 0; b < v; b++) expect(uni.data[b * 2]).toBeCloseTo(((b === 2 ? ab : 0) + (1 - ab) / v - mu) / sigma, 14);
    const mask = timeEmbedding(x, 0.5, v, 2, 'mask');
    for (let b = 0; b < v; b++) {
      expect(mask.data[b * 2]).toBeCloseTo(((b === 2 ? 1 : 0) - mu) / sigma, 14);
      expect(mask.data[b * 2 + 1]).toBeCloseTo((1 / v - mu) / sigma, 14);
    }
    expect(timeEmbedding(x, 0.9, v, 2, 'mask').data).toEqual(mask.data);
  });

  it('refuses params that do not match the config', () => {
    const config: BpUnetConfig = { vocab: 4, tuple: 2, depth: 2, width: 8, process: 'uniform' };
    const params = randomParams(initBpUnet, config, 1);
    delete params['up.1.norm.bias'];
    expect(() => checkBpUnetParams(params, config)).toThrow(/missing parameter "up.1.norm.bias"/);
    expect(() => new ReferenceModel(randomParams(initBpUnet, config, 1), { ...config, width: 4 })).toThrow(ParamError);
  });
});

describe('bpUnetToOnnx through OnnxRhmDenoiser vs the float64 reference', () => {
  // t/T on the sampling grid i/200 (where the float32 product t·1000 matters), off it, and the ends.
  const times = Float32Array.from([1 / 200, 0.3, 0.5, 0.7371, 1, 37 / 200, 0.0004, 199 / 200]);
  const cases: [string, BpUnetConfig][] = [];
  for (const process of ['uniform', 'mask'] as const) {
    cases.push([`s=2 L=2 ${process}`, { vocab: 4, tuple: 2, depth: 2, width: 8, process }]);
    cases.push([`s=3 L=2 ${process}`, { vocab: 4, tuple: 3, depth: 2, width: 8, process }]);
  }

  it.each(cases)('%s: logits agree to 1e-5 of their scale', async (label, config) => {
    const params = randomParams(initBpUnet, config, 7);
    const d = config.tuple ** config.depth;
    const n = times.length;
    const path = save(`${label.replace(/[ =]/g, '_')}.onnx`, bpUnetToOnnx(params, config));
    const model = await OnnxRhmDenoiser.open(path, { batchSize: n });
    try {
      expect([model.vocab, model.length, model.process]).toEqual([config.vocab, d, config.process]);
      const x = randomInput(n, config.vocab, d, config.process, 11);
      const got = await model.logits(x, times, n);
      const ref = referenceLogits(params, config, x, times, n);
      expect(await new ReferenceModel(params, config).logits(x, times, n)).toEqual(Float32Array.from(ref));
      // float32 carries ~6e-8 relative per operation; through 2L + 2 convolutions of fan-in ≤ 48 and
      // 2L LayerNorms the accumulated error measures ≤ 1e-6 of the logits' scale (also for W = 256,
      // L = 3 and 200 grid times). 1e-5 leaves a 10× margin, yet catches τ off by one step (the
      // float64 ⌊t·1000⌋ at t = i/200 moves logits by ~1.7e-4 of their scale) as well as any layout
      // mistake, which moves them by O(their scale).
      const scale = ref.reduce((m, y) => Math.max(m, Math.abs(y)), 0);
      expect(scale).toBeGreaterThan(0.01);
      let worst = 0;
      ref.forEach((y, k) => (worst = Math.max(worst, Math.abs(got[k] - y))));
      expect(worst / scale).toBeLessThan(1e-5);
    } finally {
      await model.release();
    }
  });

  it('names the graph and writes the config as metadata', () => {
    const config: BpUnetConfig = { vocab: 4, tuple: 3, depth: 2, width: 8, process: 'mask' };
    const bytes = bpUnetToOnnx(randomParams(initBpUnet, config, 3), config);
    const model = fromBinary(ModelProtoSchema, bytes);
    expect(model.graph?.name).toBe(BPUNET_GRAPH_NAME);
    expect(readOnnxMetadata(save('meta.onnx', bytes))).toEqual({
      model: 'bpunet',
      process: 'mask',
      vocab: '4',
      length: '9',
      tuple: '3',
      depth: '2',
      width: '8',
    });
  });

  it('batches internally: N = 7 in chunks of 3 equals one batch of 7', async () => {
    const config: BpUnetConfig = { vocab: 4, tuple: 2, depth: 2, width: 8, process: 'uniform' };
    const path = save('batch.onnx', bpUnetToOnnx(randomParams(initBpUnet, config, 5), config));
    const x = randomInput(7, 4, 4, 'uniform', 9);
    const t = Float32Array.from({ length: 7 }, (_, k) => (k + 1) / 8);
    const small = await OnnxRhmDenoiser.open(path, { batchSize: 3 });
    const big = await OnnxRhmDenoiser.open(path, { batchSize: 7 });
    try {
      const a = await small.logits(x, t, 7);
      const b = await big.logits(x, t, 7);
      expect(a).toEqual(b);
      expect([small.calls, big.calls]).toEqual([3, 1]);
      expect(await small.logits(new Float32Array(0), new Float32Array(0), 0)).toEqual(new Float32Array(0));
    } finally {
      await small.release();
      await big.release();
    }
  });
});

describe('OnnxRhmDenoiser errors', () => {
  /** x → Identity → logits, t unused: a model whose v and d are whatever `dims` declares. */
  function identityModel(dims: (number | string)[], outputs = ['logits']): OnnxGraphBuilder {
    const b = new OnnxGraphBuilder('identity').input('x', 'float32', dims).input('t', 'float32', ['N']);
    for (const o of outputs) b.node('Identity', ['x'], [o]).output(o, 'float32', dims);
    return b;
  }

  it("a wrong output or input name lists the model's names", async () => {
    const path = save('id.onnx', identityModel(['N', 4, 4], ['logits', 'other']).toBytes());
    const e = await paramError(OnnxRhmDenoiser.open(path, { batchSize: 2, outputName: 'out' }));
    expect(e.param).toBe('output-name');
    expect(e.message).toBe('invalid --output-name "out" (the model\'s outputs are "logits", "other")');
    const e2 = await paramError(OnnxRhmDenoiser.open(path, { batchSize: 2, timeName: 'time' }));
    expect(e2.param).toBe('time-name');
    expect(e2.message).toContain('"x", "t"');
  });

  it('a file that is not ONNX gives a one-line ParamError', async () => {
    const path = save('junk.onnx', new TextEncoder().encode('this is not a model\nat all\n'));
    const e = await paramError(OnnxRhmDenoiser.open(path, { batchSize: 2 }));
    expect(e.param).toBe('model');
    expect(e.message).not.toContain('\n');
    expect(e.message).toMatch(/^invalid --model ".*junk\.onnx" \(not an ONNX model/);
    expect((await paramError(OnnxRhmDenoiser.open(join(dir, 'missing.onnx'), { batchSize: 2 }))).message).toContain('file not found');
  });

  it('symbolic v and d come from the options, and must agree with static dims and metadata', async () => {
    const sym = save('sym.onnx', identityModel(['N', 'v', 'd']).toBytes());
    const e = await paramError(OnnxRhmDenoiser.open(sym, { batchSize: 2 }));
    expect(e.param).toBe('vocab');
    expect(e.message).toContain('pass --vocab');
    expect((await paramError(OnnxRhmDenoiser.open(sym, { batchSize: 2, vocab: 4 }))).param).toBe('length');
    const model = await OnnxRhmDenoiser.open(sym, { batchSize: 2, vocab: 4, length: 3, process: 'mask' });
    try {
      expect([model.vocab, model.length, model.process]).toEqual([4, 3, 'mask']);
      const x = randomInput(3, 4, 3, 'mask', 2);
      expect(await model.logits(x, new Float32Array(3), 3)).toEqual(x);
      await expect(model.logits(x, new Float32Array(3), 2)).rejects.toThrow(RangeError);
    } finally {
      await model.release();
    }

    const fixed = save('fixed.onnx', identityModel(['N', 4, 4]).toBytes());
    const e2 = await paramError(OnnxRhmDenoiser.open(fixed, { batchSize: 2, vocab: 5 }));
    expect(e2.message).toBe(`invalid --vocab 5 (the model "${fixed}" fixes v = 4)`);

    const config: BpUnetConfig = { vocab: 4, tuple: 2, depth: 2, width: 8, process: 'mask' };
    const masked = save('masked.onnx', bpUnetToOnnx(randomParams(initBpUnet, config, 4), config));
    const e3 = await paramError(OnnxRhmDenoiser.open(masked, { batchSize: 2, process: 'uniform' }));
    expect(e3.param).toBe('process');
    expect(e3.message).toContain('trained for "mask"');
  });

  it('an output of the wrong shape is a one-line ParamError at run time', async () => {
    // Transposes x: the output is [N, 4, 2], not the [N, v, d] = [N, 2, 4] logits.
    const b = new OnnxGraphBuilder('transposed')
      .input('x', 'float32', ['N', 2, 4])
      .input('t', 'float32', ['N'])
      .node('Transpose', ['x'], ['logits'], { perm: [0, 2, 1] })
      .output('logits', 'float32', ['N', 4, 2]);
    const model = await OnnxRhmDenoiser.open(save('transposed.onnx', b.toBytes()), { batchSize: 2 });
    try {
      const e = await paramError(model.logits(new Float32Array(8), new Float32Array(1), 1));
      expect(e.message).toMatch(/output "logits" is 1×4×2 for input 1×2×4/);
    } finally {
      await model.release();
    }
  });
});

describe('the exported model is the training graph', () => {
  it.each(['uniform', 'mask'] as const)('export and training forward give the same logits (%s)', async (process) => {
    const config: BpUnetConfig = { vocab: 8, tuple: 2, depth: 3, width: 32, process };
    const params = randomParams(initBpUnet, config, 4);
    const n = 5;
    const d = 8;
    const rng = createRng(5);
    const tokens = Int32Array.from({ length: n * d }, () => (process === 'mask' && rng.nextFloat() < 0.3 ? -1 : rng.nextInt(8)));
    const times = Float32Array.from([0.005, 0.1, 0.37, 0.8, 1]);
    // The training graph: rows [N, d, v] in, ᾱ_τ fed from the host, logits rows out.
    const g = new Graph();
    const x = g.input('x', [n, d, 8]);
    const ab = g.input('alpha_bar', [n]);
    const pv: Record<string, Value> = {};
    for (const [name, shape] of paramShapes(config)) pv[name] = g.param(name, shape);
    const y = bpUnetRows(g, pv, config, x, process === 'uniform' ? { alphaBar: ab } : null);
    const session = await createCpuSession(g.toOnnx({ name: 'train-forward', outputs: [['y', y]], paramData: params }), 1);
    const rows = (await session.run({ x: floatTensor(oneHotRows(tokens, n, 8), [n, d, 8]), alpha_bar: floatTensor(embeddingAlphaBarOf(times), [n]) })).y.data as Float32Array;
    await session.release();
    const model = await OnnxRhmDenoiser.open(save(`same-${process}.onnx`, bpUnetToOnnx(params, config)), { batchSize: n });
    const exported = await model.logits(oneHot(tokens, n, 8, d), times, n);
    await model.release();
    // Same ops on the same float32 values, with the exported graph's products batched (MatMul) and the
    // training graph's flattened (Gemm): only summation order differs, a few ulps of the logits' scale.
    const scale = rows.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
    for (let i = 0; i < n; i++)
      for (let p = 0; p < d; p++)
        for (let b = 0; b < 8; b++) {
          expect(Math.abs(exported[(i * 8 + b) * d + p] - rows[(i * d + p) * 8 + b])).toBeLessThan(1e-5 * scale);
        }
  });
});
