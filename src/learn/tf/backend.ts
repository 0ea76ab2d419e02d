import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';

/** The @tensorflow/tfjs namespace, as {@link initTf} returns it. */
export type Tf = typeof import('@tensorflow/tfjs');

/** The tfjs backends hierdiff trains on: WebAssembly (SIMD, ≈ 25× faster) or tfjs' pure-JS cpu. */
export type TfBackend = 'wasm' | 'cpu';

let loading: Promise<Tf> | null = null;

/**
 * Loads @tensorflow/tfjs and its WebAssembly backend (once per process), makes `backend` the active
 * backend and returns the tf namespace. Idempotent: later calls reuse the loaded modules and only
 * switch the backend if another one was asked for. Tensors made under one backend should not be
 * mixed with the other.
 *
 * tfjs is imported dynamically so that importing hierdiff does not load it. Its console messages
 * (the "install tfjs-node" hint) are silenced through the `PROD` flag: library code never prints.
 */
export async function initTf(backend: TfBackend = 'wasm'): Promise<Tf> {
  loading ??= load();
  const tf = await loading;
  if (tf.getBackend() !== backend) {
    const ok = await tf.setBackend(backend);
    if (!ok) throw new Error(`tfjs backend "${backend}" failed to initialise`);
  }
  await tf.ready();
  return tf;
}

async function load(): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  tf.env().set('PROD', true);
  // The .wasm binaries sit next to the package's main file (dist/); naming the folder explicitly
  // keeps them found however the package was loaded (plain Node, tsx, vitest). Must precede
  // setBackend('wasm'). Node has no threads for tfjs-wasm, so the SIMD binary is the one used.
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(`${dist}${sep}`);
  return tf;
}
