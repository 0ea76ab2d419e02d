import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as AttrType, ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { OnnxGraphBuilder, type OnnxElemType } from '../src/nn/graphBuilder.ts';
import { floatTensor } from '../src/nn/runtime.ts';
import { openOnnxSession, tensorDims } from '../src/nn/session.ts';
import { OnnxDenoiser } from '../src/images/models/denoiser.ts';
import { channelAxis, OnnxClassifier, top1 } from '../src/images/models/classifier.ts';
import { paramErrorAsync as paramError } from './helpers/errors.ts';
import { randomArray } from './helpers/random.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-models-');

function save(name: string, b: OnnxGraphBuilder): string {
  const path = join(dir, name);
  writeFileSync(path, b.toBytes());
  return path;
}

describe('OnnxGraphBuilder', () => {
  it('encodes integer, float and forced-list attributes and little-endian initializers', () => {
    const b = new OnnxGraphBuilder('g', { opset: 13 })
      .input('x', 'float32', ['N', 2])
      .output('y', 'float32', ['N', 2])
      .initializer('k', new Float32Array([1.5, -2]), [2])
      .node('LeakyRelu', ['x'], ['y'], { alpha: 0.1, i: 3, is: [1, 2], fs: { floats: [1, 2] }, s: 'abc', ff: [0.5, 1] });
    const m = fromBinary(ModelProtoSchema, b.toBytes());
    expect(m.irVersion).toBe(8n);
    expect(m.producerName).toBe('hierdiff');
    expect(m.opsetImport[0].version).toBe(13n);
    const attrs = Object.fromEntries(m.graph!.node[0].attribute.map((a) => [a.name, a]));
    expect(attrs.alpha.type).toBe(AttrType.FLOAT);
    expect(attrs.alpha.f).toBeCloseTo(0.1, 7);
    expect([attrs.i.type, attrs.i.i]).toEqual([AttrType.INT, 3n]);
    expect([attrs.is.type, attrs.is.ints]).toEqual([AttrType.INTS, [1n, 2n]]);
    expect([attrs.fs.type, attrs.fs.floats]).toEqual([AttrType.FLOATS, [1, 2]]);
    expect([attrs.ff.type, attrs.ff.floats]).toEqual([AttrType.FLOATS, [0.5, 1]]);
    expect(new TextDecoder().decode(attrs.s.s)).toBe('abc');
    const raw = m.graph!.initializer[0].rawData;
    expect(new DataView(raw.buffer, raw.byteOffset).getFloat32(4, true)).toBe(-2);
    expect(() => new OnnxGraphBuilder('g').initializer('bad', new Float32Array(3), [2, 2])).toThrow(/3 values/);
  });
});

describe('openOnnxSession and tensorDims', () => {
  it('runs a Mul-then-Add graph like its JS reference', async () => {
    const k = new Float32Array([0.5, -1.25, 3]);
    const c = new Float32Array([0.1, 0.2, -0.3]);
    const path = save(
      'muladd.onnx',
      new OnnxGraphBuilder('muladd')
        .input('x', 'float32', ['N', 3])
        .output('y', 'float32', ['N', 3])
        .initializer('k', k, [3])
        .initializer('c', c, [3])
        .node('Mul', ['x', 'k'], ['xk'])
        .node('Add', ['xk', 'c'], ['y']),
    );
    const session = await openOnnxSession(path, 'model', 'cpu');
    expect(session.inputMetadata[0]).toMatchObject({ name: 'x', isTensor: true, type: 'float32', shape: ['N', 3] });
    expect(tensorDims(session, 'x', 'input')).toEqual([null, 3]);
    expect(tensorDims(session, 'y', 'output')).toEqual([null, 3]);
    expect(tensorDims(session, 'nope', 'input')).toBeNull();
    const x = randomArray(12, 1);
    const { y } = await session.run({ x: floatTensor(x, [4, 3]) });
    expect(y.dims).toEqual([4, 3]);
    const got = y.data as Float32Array;
    for (let i = 0; i < 12; i++) expect(Math.abs(got[i] - (x[i] * k[i % 3] + c[i % 3]))).toBeLessThan(1e-6);
    await session.release();
  });
});

// A stand-in for guided-diffusion's UNet: ε = coef[t]·x, followed by C constant variance channels.
const C = 2,
  H = 3,
  W = 4,
  T = 10;
const coef = Float32Array.from({ length: T }, (_, t) => 1 - 0.07 * t);
const variance = new Float32Array([0.25, -0.5]);

function denoiserModel(o: { batch?: number | string; tType?: OnnxElemType; hw?: (number | string)[]; outChannels?: 1 | 2 | 3 } = {}): OnnxGraphBuilder {
  const batch = o.batch ?? 'N',
    tType = o.tType ?? 'int64',
    hw = o.hw ?? [H, W],
    k = o.outChannels ?? 2;
  const b = new OnnxGraphBuilder('denoiser')
    .input('x', 'float32', [batch, C, ...hw])
    .input('timesteps', tType, [batch])
    .output('out', 'float32', [batch, k * C, ...hw])
    .initializer('coef', coef, [T])
    .initializer('shape4', new BigInt64Array([-1n, 1n, 1n, 1n]), [4]);
  // Gather takes int32 or int64 indices; a float timestep is cast first.
  const idx = tType === 'float32' ? 'tIndex' : 'timesteps';
  if (tType === 'float32') b.node('Cast', ['timesteps'], ['tIndex'], { to: 7 });
  b.node('Gather', ['coef', idx], ['c'], { axis: 0 }).node('Reshape', ['c', 'shape4'], ['c4']).node('Mul', ['x', 'c4'], ['eps']);
  if (k === 1) return b.node('Identity', ['eps'], ['out']);
  b.initializer('variance', variance, [1, C, 1, 1]).node('Shape', ['x'], ['xShape']).node('Expand', ['variance', 'xShape'], ['v']);
  return b.node('Concat', k === 2 ? ['eps', 'v'] : ['eps', 'v', 'v'], ['out'], { axis: 1 });
}

/** Expected output of denoiserModel for image i at timestep t. */
function expectDenoised(out: Float32Array, x: Float32Array, i: number, t: number) {
  const hw = H * W;
  for (let ch = 0; ch < 2 * C; ch++) {
    for (let p = 0; p < hw; p++) {
      const want = ch < C ? coef[t] * x[(i * C + ch) * hw + p] : variance[ch - C];
      expect(Math.abs(out[(i * 2 * C + ch) * hw + p] - want)).toBeLessThan(1e-6);
    }
  }
}

describe('OnnxDenoiser', () => {
  it('gathers the per-timestep coefficient and returns 2C channels (int64, int32 and float32 timesteps)', async () => {
    for (const tType of ['int64', 'int32', 'float32'] as const) {
      const d = await OnnxDenoiser.open(save(`den-${tType}.onnx`, denoiserModel({ tType })), { batchSize: 8 });
      expect(d.timestepType).toBe(tType);
      expect(d.inputShape).toEqual([C, H, W]);
      expect(d.outputName).toBe('out');
      const n = 3,
        ts = [0, 4, 9];
      const x = randomArray(n * C * H * W, 2);
      const { output, outputChannels } = await d.run(x, n, ts);
      expect(outputChannels).toBe(2 * C);
      expect(output.length).toBe(n * 2 * C * H * W);
      for (let i = 0; i < n; i++) expectDenoised(output, x, i, ts[i]);
      expect(d.calls).toBe(1);
      expect(d.callSeconds).toBeGreaterThan(0);
      await d.release();
    }
  });

  it('pads a static-batch model with zeros and drops the padding outputs', async () => {
    const path = save('den-static.onnx', denoiserModel({ batch: 4 }));
    expect((await paramError(OnnxDenoiser.open(path, { batchSize: 5 }))).param).toBe('batch-size');
    const d = await OnnxDenoiser.open(path, { batchSize: 4 });
    const x = randomArray(2 * C * H * W, 3);
    const { output } = await d.run(x, 2, [7, 1]);
    expect(output.length).toBe(2 * 2 * C * H * W);
    expectDenoised(output, x, 0, 7);
    expectDenoised(output, x, 1, 1);
    await expect(d.run(randomArray(5 * C * H * W, 3), 5, [1, 1, 1, 1, 1])).rejects.toThrow(ParamError);
    await d.release();
  });

  it('needs --image-size for symbolic H×W, and refuses one that contradicts the model', async () => {
    const path = save('den-dyn.onnx', denoiserModel({ hw: ['H', 'W'] }));
    const d = await OnnxDenoiser.open(path, { batchSize: 2 });
    expect(d.inputShape).toBeNull();
    expect((await paramError(d.run(new Float32Array(C * H * W), 1, [0]))).param).toBe('image-size');
    await d.release();
    const sized = await OnnxDenoiser.open(path, { batchSize: 2, imageShape: [C, H, W] });
    const x = randomArray(C * H * W, 4);
    expectDenoised((await sized.run(x, 1, [5])).output, x, 0, 5);
    await sized.release();
    const e = await paramError(OnnxDenoiser.open(path, { batchSize: 2, imageShape: [3, H, W] }));
    expect([e.param, e.message]).toEqual(['image-size', `invalid --image-size 3×${H}×${W} (the model fixes C×H×W to ${C}×?×?)`]);
  });

  it('accepts plain ε outputs and rejects outputs that are neither C nor 2C channels', async () => {
    const eps = await OnnxDenoiser.open(save('den-eps.onnx', denoiserModel({ outChannels: 1 })), { batchSize: 1 });
    expect((await eps.run(new Float32Array(C * H * W).fill(1), 1, [2])).outputChannels).toBe(C);
    await eps.release();
    const bad = await OnnxDenoiser.open(save('den-3c.onnx', denoiserModel({ outChannels: 3 })), { batchSize: 1 });
    const e = await paramError(bad.run(new Float32Array(C * H * W), 1, [2]));
    expect(e.param).toBe('model');
    expect(e.message).toMatch(/output "out" is 1×6×3×4 .*expected 1×2×3×4 or 1×4×3×4/);
    expect(e.message).not.toContain('\n');
    await bad.release();
  });

  it('names the missing input or output and lists the ones the model has', async () => {
    const path = save('den-names.onnx', denoiserModel());
    const out = await paramError(OnnxDenoiser.open(path, { batchSize: 1, outputName: 'eps_out' }));
    expect([out.param, out.message]).toEqual(['output-name', 'invalid --output-name "eps_out" (the model\'s outputs are "out")']);
    const inp = await paramError(OnnxDenoiser.open(path, { batchSize: 1, inputName: 'sample' }));
    expect([inp.param, inp.message]).toEqual(['input-name', 'invalid --input-name "sample" (the model\'s inputs are "x", "timesteps")']);
    expect((await paramError(OnnxDenoiser.open(path, { batchSize: 1, timestepName: 't' }))).param).toBe('timestep-name');
    const cond = save('den-cond.onnx', denoiserModel().input('y', 'int64', ['N']));
    expect((await paramError(OnnxDenoiser.open(cond, { batchSize: 1 }))).message).toMatch(/inputs "y" besides image and timesteps/);
  });
});

// Tiny conv classifier: Conv3×3 pad 1 → Relu (stage1) → Conv3×3 stride 2 → Relu (stage2) → GAP → Gemm.
const CI = 2,
  S = 6,
  C1 = 4,
  C2 = 5,
  K = 3,
  S2 = 2;
const w1 = randomArray(C1 * CI * 9, 10, 0.5),
  b1 = randomArray(C1, 11, 0.1);
const w2 = randomArray(C2 * C1 * 9, 12, 0.5),
  b2 = randomArray(C2, 13, 0.1);
const wf = randomArray(K * C2, 14),
  bf = randomArray(K, 15, 0.1);

function classifierModel(batch: number | string = 'N'): OnnxGraphBuilder {
  return new OnnxGraphBuilder('classifier')
    .input('image', 'float32', [batch, CI, S, S])
    .output('logits', 'float32', [batch, K])
    .output('stage1', 'float32', [batch, C1, S, S])
    .output('stage2', 'float32', [batch, C2, S2, S2])
    .initializer('w1', w1, [C1, CI, 3, 3])
    .initializer('b1', b1, [C1])
    .initializer('w2', w2, [C2, C1, 3, 3])
    .initializer('b2', b2, [C2])
    .initializer('wf', wf, [K, C2])
    .initializer('bf', bf, [K])
    .node('Conv', ['image', 'w1', 'b1'], ['conv1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })
    .node('Relu', ['conv1'], ['stage1'])
    .node('Conv', ['stage1', 'w2', 'b2'], ['conv2'], { kernel_shape: [3, 3], strides: [2, 2] })
    .node('Relu', ['conv2'], ['stage2'])
    .node('GlobalAveragePool', ['stage2'], ['pooled'])
    .node('Flatten', ['pooled'], ['flat'], { axis: 1 })
    .node('Gemm', ['flat', 'wf', 'bf'], ['logits'], { transB: 1 });
}

/** ReLU(conv2d) of one ci×s×s image with a 3×3 kernel; returns co×so×so. */
function convRelu(x: Float32Array, ci: number, s: number, w: Float32Array, b: Float32Array, co: number, stride: number, pad: number) {
  const so = Math.floor((s + 2 * pad - 3) / stride) + 1;
  const y = new Float64Array(co * so * so);
  for (let o = 0; o < co; o++) {
    for (let r = 0; r < so; r++) {
      for (let c = 0; c < so; c++) {
        let acc = b[o];
        for (let i = 0; i < ci; i++) {
          for (let u = 0; u < 3; u++) {
            for (let v = 0; v < 3; v++) {
              const rr = r * stride + u - pad,
                cc = c * stride + v - pad;
              if (rr >= 0 && rr < s && cc >= 0 && cc < s) acc += w[((o * ci + i) * 3 + u) * 3 + v] * x[(i * s + rr) * s + cc];
            }
          }
        }
        y[(o * so + r) * so + c] = Math.max(acc, 0);
      }
    }
  }
  return { y, so };
}

function classifierReference(img: Float32Array) {
  const s1 = convRelu(img, CI, S, w1, b1, C1, 1, 1);
  const s2 = convRelu(Float32Array.from(s1.y), C1, s1.so, w2, b2, C2, 2, 0);
  const pooled = Array.from({ length: C2 }, (_, o) => s2.y.slice(o * S2 * S2, (o + 1) * S2 * S2).reduce((a, v) => a + v, 0) / (S2 * S2));
  const logits = Array.from({ length: K }, (_, k) => bf[k] + pooled.reduce((a, p, o) => a + p * wf[k * C2 + o], 0));
  return { stage1: s1.y, stage2: s2.y, logits };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(tol);
}

describe('OnnxClassifier', () => {
  it('returns logits and the probed layers in graph order, matching a JS forward pass', async () => {
    const cls = await OnnxClassifier.open(save('cls.onnx', classifierModel()), { batchSize: 4 });
    expect(cls.inputName).toBe('image');
    expect(cls.logitsName).toBe('logits');
    expect(cls.layerNames).toEqual(['stage1', 'stage2']);
    expect(cls.inputShape).toEqual([CI, S, S]);
    const n = 3,
      per = CI * S * S;
    const x = randomArray(n * per, 20);
    const { logits, classes, layers } = await cls.run(x, n);
    expect(classes).toBe(K);
    expect(layers.map((l) => [l.name, l.shape])).toEqual([
      ['stage1', [n, C1, S, S]],
      ['stage2', [n, C2, S2, S2]],
    ]);
    for (let i = 0; i < n; i++) {
      const ref = classifierReference(x.subarray(i * per, (i + 1) * per));
      expectClose(logits.subarray(i * K, (i + 1) * K), ref.logits, 1e-5);
      expectClose(layers[0].data.subarray(i * C1 * S * S, (i + 1) * C1 * S * S), ref.stage1, 1e-5);
      expectClose(layers[1].data.subarray(i * C2 * S2 * S2, (i + 1) * C2 * S2 * S2), ref.stage2, 1e-5);
      const best = ref.logits.indexOf(Math.max(...ref.logits));
      expect(top1(logits, classes, i)).toBe(best);
    }
    expect(cls.calls).toBe(1);
    await cls.release();
  });

  it('keeps graph order for a chosen subset, pads a static batch, and names what is missing', async () => {
    const path = save('cls-static.onnx', classifierModel(2));
    const cls = await OnnxClassifier.open(path, { batchSize: 2, layerNames: ['stage2', 'stage1'] });
    expect(cls.layerNames).toEqual(['stage1', 'stage2']);
    await cls.release();
    const only2 = await OnnxClassifier.open(path, { batchSize: 2, layerNames: ['stage2'] });
    const x = randomArray(CI * S * S, 21);
    const r = await only2.run(x, 1);
    expect(r.layers.map((l) => [l.name, l.shape, l.data.length])).toEqual([['stage2', [1, C2, S2, S2], C2 * S2 * S2]]);
    expectClose(r.logits, classifierReference(x).logits, 1e-5);
    await only2.release();

    const layers = await paramError(OnnxClassifier.open(path, { batchSize: 1, layerNames: ['stage3'] }));
    expect([layers.param, layers.message]).toEqual(['layers', 'invalid --layers "stage3" (not among the model\'s layer outputs "stage1", "stage2")']);
    const logits = await paramError(OnnxClassifier.open(path, { batchSize: 1, logitsName: 'probs' }));
    expect([logits.param, logits.message]).toEqual(['logits-name', 'invalid --logits-name "probs" (the model\'s outputs are "logits", "stage1", "stage2")']);
    expect((await paramError(OnnxClassifier.open(path, { batchSize: 1, inputName: 'x' }))).param).toBe('classifier-input');
  });

  it('locates channels on axis 1 of 4-D layers and on the last axis otherwise; top1 takes the first of ties', () => {
    expect(channelAxis([8, 64, 7, 7])).toBe(1);
    expect(channelAxis([8, 512])).toBe(1);
    expect(channelAxis([8, 197, 768])).toBe(2);
    expect(top1([0, 2, 2, 5, 1, 5], 3, 0)).toBe(1);
    expect(top1([0, 2, 2, 5, 1, 5], 3, 1)).toBe(0);
  });
});

describe('model file errors', () => {
  it('a text file is "not an ONNX model", in one line', async () => {
    const path = join(dir, 'notes.onnx');
    writeFileSync(path, 'this is not a protobuf\nsecond line\n');
    const e = await paramError(OnnxDenoiser.open(path, { batchSize: 1 }));
    expect(e.param).toBe('model');
    expect(e.message).toMatch(/^invalid --model ".*notes\.onnx" \(not an ONNX model: .+\)$/);
    expect(e.message).not.toContain('\n');
    expect(e.message.length).toBeLessThan(200 + path.length);
  });

  it('a missing file is "file not found", under the parameter that named it', async () => {
    const path = join(dir, 'missing.onnx');
    const e = await paramError(OnnxClassifier.open(path, { batchSize: 1 }));
    expect([e.param, e.message]).toEqual(['classifier', `invalid --classifier "${path}" (file not found)`]);
    expect((await paramError(openOnnxSession(path, 'model', 'cpu'))).message).toBe(`invalid --model "${path}" (file not found)`);
  });

  it('device cuda either opens or says in one line how to enable the CUDA provider', async () => {
    const path = save('cuda.onnx', denoiserModel());
    const result = await OnnxDenoiser.open(path, { batchSize: 1, device: 'cuda' }).then(
      async (d) => {
        await d.release();
        return null;
      },
      (e: unknown) => e,
    );
    if (result !== null) {
      expect(result).toBeInstanceOf(ParamError);
      const e = result as ParamError;
      expect(e.param).toBe('device');
      expect(e.message).toMatch(/install script allowed.*CUDA 12/);
      expect(e.message).not.toContain('\n');
    }
  });
});
