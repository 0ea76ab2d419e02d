import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { mnistModelPaths } from '../src/mnist/shipped.ts';

/**
 * The two onnxruntimes behind src/nn/session.ts (chosen in src/nn/runtime.ts): onnxruntime-node
 * (native, an optional dependency) and onnxruntime-web's WebAssembly build in Node, the fallback
 * when onnxruntime-node is not installed (HIERDIFF_RUNTIME=wasm forces it here). The runtime is
 * chosen once per process, so each case loads runtime.ts and session.ts afresh (vi.resetModules)
 * with the variable set.
 */
type SessionModule = typeof import('../src/nn/runtime.ts') & typeof import('../src/nn/session.ts');

async function freshSession(runtime: string | undefined): Promise<SessionModule> {
  vi.resetModules();
  vi.stubEnv('HIERDIFF_RUNTIME', runtime);
  return { ...(await import('../src/nn/runtime.ts')), ...(await import('../src/nn/session.ts')) };
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

// float32 kernels of two builds (native MLAS vs WebAssembly SIMD) sum in different orders: logits
// of a few units agree to ~1e-5 relative; 1e-4 leaves room without hiding a wrong graph.
const RUNTIME_REL = 1e-4;

/** Every output of the shipped MNIST classifier for 4 random 32×32 images, on the runtime `runtime` picks. */
async function classifierOutputs(runtime: string | undefined): Promise<{ info: ReturnType<SessionModule['onnxRuntimeInfo']>; outputs: Record<string, Float32Array> }> {
  const s = await freshSession(runtime);
  const session = await s.openOnnxSession(mnistModelPaths().classifier, 'classifier', 'cpu', 1);
  const x = new Float32Array(4 * 32 * 32);
  createRng(7).fillNormal(x);
  const out = await session.run({ [session.inputNames[0]]: s.floatTensor(x, [4, 1, 32, 32]) });
  await session.release();
  return { info: s.onnxRuntimeInfo(), outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array])) };
}

describe('the onnxruntime of a process', () => {
  it('is onnxruntime-node when installed; HIERDIFF_RUNTIME=wasm runs onnxruntime-web, with the same outputs', async () => {
    const native = await classifierOutputs(undefined);
    expect(native.info).toMatchObject({ name: 'onnxruntime-node', fallback: null, wasmThreads: null });
    const wasm = await classifierOutputs('wasm');
    expect(wasm.info).toMatchObject({ name: 'onnxruntime-web', fallback: 'HIERDIFF_RUNTIME=wasm', wasmThreads: 1 });
    expect(wasm.info?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.keys(wasm.outputs)).toEqual(Object.keys(native.outputs));
    for (const [name, a] of Object.entries(native.outputs)) {
      const b = wasm.outputs[name];
      expect(b.length).toBe(a.length);
      const scale = Math.max(...a.map(Math.abs));
      const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
      expect(worst, name).toBeLessThanOrEqual(RUNTIME_REL * scale);
    }
  });

  it('trains on the WebAssembly runtime (the one training loop), as on the native one', async () => {
    const losses: number[][] = [];
    for (const runtime of ['node', 'wasm']) {
      await freshSession(runtime);
      const { trainModel } = await import('../src/nn/train.ts');
      const { initNamedParams } = await import('../src/nn/params.ts');
      const B = 4;
      const shapes: [string, number[]][] = [
        ['c.weight', [2, 1, 3, 3]],
        ['c.bias', [2]],
        ['d.weight', [1, 2, 3, 3]],
        ['d.bias', [1]],
      ];
      const result = await trainModel({
        model: 'toy',
        config: {},
        shapes,
        init: initNamedParams(shapes, createRng(1, 0)),
        settings: {},
        steps: 5,
        batch: B,
        threads: 1,
        lr: 1e-2,
        lossGraph: (g, p) => {
          const x = g.input('x', [B, 1, 6, 6]);
          const d = g.sub(g.conv(g.silu(g.conv(x, p['c.weight'], p['c.bias'], { pads: [1, 1] })), p['d.weight'], p['d.bias'], { pads: [1, 1] }), g.input('y', [B, 1, 6, 6]));
          return g.mean(g.mul(d, d));
        },
        feeds: (k) => {
          const x = new Float32Array(B * 36);
          createRng(2, k).fillNormal(x);
          return { x, y: x.map((v) => Math.tanh(v)) };
        },
      });
      losses.push(result.losses);
    }
    const [native, wasm] = losses;
    expect(wasm[4]).toBeLessThan(wasm[0]);
    for (let k = 0; k < native.length; k++) expect(Math.abs(wasm[k] - native[k])).toBeLessThanOrEqual(RUNTIME_REL * native[k]);
  });

  it('--device cuda on the WebAssembly runtime, a bad HIERDIFF_RUNTIME, and a tensor before any session are one-line errors', async () => {
    let s = await freshSession('wasm');
    const { ParamError } = await import('../src/core/errors.ts');
    expect(() => s.floatTensor(new Float32Array(1), [1])).toThrow(/no onnxruntime session has been created yet/);
    const cuda = await s.openOnnxSession(mnistModelPaths().classifier, 'classifier', 'cuda').catch((e: unknown) => e);
    expect(cuda).toBeInstanceOf(ParamError);
    expect(cuda).toMatchObject({ param: 'device', message: 'invalid --device "cuda" (HIERDIFF_RUNTIME=wasm runs the CPU-only runtime onnxruntime-web: unset it for onnxruntime-node)' });
    s = await freshSession('gpu');
    const bad = await s.onnxRuntime().catch((e: unknown) => e);
    expect(bad).toMatchObject({ param: 'HIERDIFF_RUNTIME', message: expect.stringMatching(/^invalid HIERDIFF_RUNTIME "gpu" \(expected node or wasm/) });
    expect((bad as Error).message).not.toContain('\n');
  });
});
