import { availableParallelism } from 'node:os';
import type { Tensor } from 'onnxruntime-web';
import { checkInt, ParamError } from '../core/errors.ts';

/**
 * Which onnxruntime runs this process's sessions, loaded once, and the tensors and thread counts
 * that go with it (the sessions themselves: session.ts).
 *
 * Two runtimes share one API (onnxruntime-common): onnxruntime-node (native, an optional
 * dependency: its install script downloads CUDA files and fails offline, and npm then drops it) and,
 * when it cannot be loaded, onnxruntime-web's WebAssembly build in Node (CPU only, slower). One is
 * chosen per process, at the first session ({@link onnxRuntime}); `HIERDIFF_RUNTIME=wasm` forces the
 * WebAssembly one, `HIERDIFF_RUNTIME=node` requires the native one. Tensors must come from the
 * runtime of the session that takes them: build them with {@link tensor} / {@link floatTensor}.
 */

/** Environment variable choosing the runtime: `node` (native only), `wasm` (WebAssembly only), unset: native if it loads. */
export const RUNTIME_ENV = 'HIERDIFF_RUNTIME';

/** Which onnxruntime runs the sessions of this process, and why. */
export interface OnnxRuntimeInfo {
  /** 'onnxruntime-node' (native) or 'onnxruntime-web' (WebAssembly in Node, CPU only). */
  name: 'onnxruntime-node' | 'onnxruntime-web';
  /** The runtime's version, e.g. "1.30.0". */
  version: string;
  /** Why the native runtime is not used (null when it is), e.g. "onnxruntime-node is not installed". */
  fallback: string | null;
  /** WebAssembly threads of the whole process (set once, by the first session), null for the native runtime. */
  wasmThreads: number | null;
}

type OrtModule = typeof import('onnxruntime-web');
/** The runtime's module and what {@link onnxRuntime} reports of it. */
export interface Runtime {
  ort: OrtModule;
  info: OnnxRuntimeInfo;
}

let loading: Promise<Runtime> | undefined;
let loaded: Runtime | undefined;
const chosenListeners: ((info: OnnxRuntimeInfo) => void)[] = [];

/** Calls `listener` once, when the process's runtime is chosen (the CLI says so when it falls back to WebAssembly). */
export function whenRuntimeChosen(listener: (info: OnnxRuntimeInfo) => void): void {
  if (loaded) listener(loaded.info);
  else chosenListeners.push(listener);
}

/**
 * The runtime of this process, loaded on first use: onnxruntime-node when it loads (unless
 * `HIERDIFF_RUNTIME=wasm`), else onnxruntime-web's WebAssembly build with `threads` threads
 * (default all cores) for every session of the process. Throws ParamError 'HIERDIFF_RUNTIME' for
 * a value other than node or wasm, or for node when onnxruntime-node does not load.
 */
export async function onnxRuntime(threads?: number): Promise<OnnxRuntimeInfo> {
  return (await runtime(threads)).info;
}

/** The runtime already chosen by a session of this process, or null before the first one. */
export function onnxRuntimeInfo(): OnnxRuntimeInfo | null {
  return loaded?.info ?? null;
}

/** The runtime of this process with its module (for session.ts), loaded on first use as {@link onnxRuntime}. */
export function runtime(threads?: number): Promise<Runtime> {
  loading ??= loadRuntime(threads ?? defaultThreads()).then(
    (r) => {
      loaded = r;
      for (const listener of chosenListeners.splice(0)) listener(r.info);
      return r;
    },
    (e: unknown) => {
      loading = undefined;
      throw e;
    },
  );
  return loading;
}

async function loadRuntime(threads: number): Promise<Runtime> {
  const wanted = (process.env[RUNTIME_ENV] ?? '').trim();
  if (wanted !== '' && wanted !== 'node' && wanted !== 'wasm') {
    throw new ParamError(RUNTIME_ENV, `invalid ${RUNTIME_ENV} "${wanted}" (expected node or wasm, or unset for node when installed, else wasm)`);
  }
  let fallback = `${RUNTIME_ENV}=wasm`;
  if (wanted !== 'wasm') {
    try {
      const m = (await import('onnxruntime-node')) as unknown as { default?: OrtModule } & OrtModule;
      const ort = m.default ?? m;
      return { ort, info: { name: 'onnxruntime-node', version: ort.env.versions.node ?? ort.env.versions.common, fallback: null, wasmThreads: null } };
    } catch (e) {
      const notFound = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /onnxruntime-node/.test(String((e as Error).message));
      fallback = notFound ? 'onnxruntime-node is not installed' : `onnxruntime-node does not load: ${shortOrtMessage(e)}`;
      if (wanted === 'node') throw new ParamError(RUNTIME_ENV, `invalid ${RUNTIME_ENV} "node" (${fallback})`);
    }
  }
  // In Node, 'onnxruntime-web' is its Node build: WebAssembly (the 14 MB ort-wasm-simd-threaded
  // module, the same as 'onnxruntime-web/wasm'), with threads on worker_threads, which the
  // browser bundles cannot start in Node.
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = checkThreads(threads);
  ort.env.logLevel = 'error';
  return { ort, info: { name: 'onnxruntime-web', version: ort.env.versions.web ?? ort.env.versions.common, fallback, wasmThreads: threads } };
}

/** All cores of this machine: the default thread count of training and inference. */
export function defaultThreads(): number {
  return availableParallelism();
}

/** Checks a thread count (ParamError 'threads': an integer 1 … 1024). */
export function checkThreads(threads: number): number {
  return checkInt('threads', threads, 1, 1024);
}

/** The element types the models here feed, with their arrays. */
export interface TensorData {
  float32: Float32Array;
  int32: Int32Array;
  int64: BigInt64Array;
}

/**
 * A tensor for a session's feeds, from the runtime of this process's sessions (a tensor of the
 * other runtime would be refused). Call it after creating the session (an Error before any).
 */
export function tensor<T extends keyof TensorData>(type: T, data: TensorData[T], dims: readonly number[]): Tensor {
  if (!loaded) throw new Error('tensor(): no onnxruntime session has been created yet (create the session first: it loads the runtime)');
  return new loaded.ort.Tensor(type, data, dims);
}

/** A float32 tensor for a session's feeds (see {@link tensor}). */
export function floatTensor(data: Float32Array, dims: readonly number[]): Tensor {
  return tensor('float32', data, dims);
}

/** First line of an onnxruntime message, without its redundant "Load model from <path> failed:" prefix, at most ~120 chars. */
export function shortOrtMessage(e: unknown): string {
  const line = (e instanceof Error ? e.message : String(e))
    .split('\n')[0]
    .replace(/^Load model from .* failed:\s*/, '')
    .trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
