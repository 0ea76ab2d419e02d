import { floatTensor } from '../../src/nn/runtime.ts';
import { createCpuSession } from '../../src/nn/session.ts';

/** Runs an ONNX model (bytes) once on one thread: float32 feeds by name → float32 outputs by name. */
export async function runOnnx(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; shape: number[] }>): Promise<Record<string, Float32Array>> {
  const session = await createCpuSession(bytes, 1);
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, floatTensor(v.data, v.shape)])));
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}
