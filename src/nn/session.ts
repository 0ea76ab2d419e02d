import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { InferenceSession, OnnxValue } from 'onnxruntime-web';
import { checkInt, ParamError } from '../core/errors.ts';
import { checkThreads, runtime, RUNTIME_ENV, shortOrtMessage, type OnnxRuntimeInfo } from './runtime.ts';

/**
 * onnxruntime sessions, for training steps and for models read from files: creation with a thread
 * count or a device, declared shapes and names, and the base class of the model wrappers. The
 * runtime they run on (native or WebAssembly, chosen once per process) and the tensors they are fed
 * come from runtime.ts.
 */
export type { InferenceSession, Tensor } from 'onnxruntime-web';

/**
 * An onnxruntime session for a model in memory (e.g. a training step), with full graph
 * optimisation and `threads` intra-op threads (one inter-op thread: the graphs here are chains, and
 * a fixed partition of the work keeps results identical from run to run at a given thread count).
 * 'cuda' runs on onnxruntime's CUDA provider with the CPU for what it lacks; a ParamError 'device'
 * when the provider is not installed or cannot start. On the WebAssembly runtime the threads are
 * the process's ({@link OnnxRuntimeInfo.wasmThreads}: the first session's count).
 */
export async function createCpuSession(model: Uint8Array, threads: number, device: Device = 'cpu'): Promise<InferenceSession> {
  checkThreads(threads);
  const { ort, info } = await runtime(threads);
  if (device === 'cuda') checkCudaAvailable(info);
  try {
    return await ort.InferenceSession.create(model, {
      graphOptimizationLevel: 'all',
      executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (e) {
    if (device === 'cuda') throw cudaError(shortOrtMessage(e));
    throw e;
  }
}

/** Where a model runs. 'cuda' needs onnxruntime-node's CUDA provider (see {@link openOnnxSession}). */
export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

/**
 * Throws the ParamError 'device' when CUDA cannot run here: the runtime is the WebAssembly one, or
 * onnxruntime-node's CUDA provider library is missing. Its install script downloads it, for linux
 * x64 only, into the folder of the native binding; elsewhere we cannot tell and let onnxruntime try.
 * Checked before ORT so that the common case (provider never installed) does not make ORT's native
 * code log the failed library load to stderr.
 */
function checkCudaAvailable(info: OnnxRuntimeInfo): void {
  if (info.name !== 'onnxruntime-node') {
    if (info.fallback === `${RUNTIME_ENV}=wasm`) {
      throw new ParamError('device', `invalid --device "cuda" (${RUNTIME_ENV}=wasm runs the CPU-only runtime onnxruntime-web: unset it for onnxruntime-node)`);
    }
    throw cudaError(`${info.fallback}, only the CPU-only runtime onnxruntime-web (WebAssembly)`);
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  const dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
  if (!existsSync(join(dist, '..', 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so'))) {
    throw cudaError('the CUDA provider library is not installed');
  }
}

function cudaError(why: string): ParamError {
  return new ParamError(
    'device',
    `invalid --device "cuda" (${why}: reinstall onnxruntime-node with its install script allowed, which downloads the CUDA provider for linux x64 (docs/images.md), and make the CUDA 12 and cuDNN 9 libraries loadable)`,
  );
}

/**
 * Opens an ONNX model with full graph optimisation on the CPU, or on CUDA with the CPU as
 * fallback for unsupported nodes. Returns the onnxruntime session.
 *
 * Throws a one-line ParamError: param `param` (e.g. 'model', 'classifier') when the file is
 * missing or is not an ONNX model, param 'device' when 'cuda' is asked and the CUDA execution
 * provider cannot be created (onnxruntime-node does not fall back to the CPU then: it fails the
 * session) or the runtime is the WebAssembly one. `threads`: onnxruntime's intra-op threads (one
 * inter-op thread, as {@link createCpuSession}); default onnxruntime's own choice (all physical
 * cores; on the WebAssembly runtime, the process's threads).
 */
export async function openOnnxSession(path: string, param: string, device: Device, threads?: number): Promise<InferenceSession> {
  if (threads !== undefined) checkThreads(threads);
  if (!existsSync(path)) throw new ParamError(param, `invalid --${param} "${path}" (file not found)`);
  const { ort, info } = await runtime(threads);
  const options: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    ...(threads === undefined ? {} : { intraOpNumThreads: threads, interOpNumThreads: 1 }),
    // Errors only: library code does not print, and ORT's warnings (unused initializers, nodes
    // left on the CPU) would otherwise go to stderr from native code.
    logSeverityLevel: 3,
  };
  if (device === 'cuda') checkCudaAvailable(info);
  try {
    // The WebAssembly runtime reads bytes (given a path it would fetch a URL).
    if (info.name === 'onnxruntime-node') return await ort.InferenceSession.create(path, options);
    return await ort.InferenceSession.create(readFileSync(path), options);
  } catch (e) {
    const msg = shortOrtMessage(e);
    // The provider is appended before the model is read, so its failure names it ("..._Cuda: Failed to load shared library").
    if (device === 'cuda' && /cuda|execution ?provider|shared library/i.test(msg)) throw cudaError(msg);
    throw new ParamError(param, `invalid --${param} "${path}" (not an ONNX model: ${msg})`);
  }
}

/**
 * The declared dims of a session input or output: one entry per axis, a number for a static
 * dim and null for a symbolic or unknown one. Returns null when the value is missing, is not a
 * tensor, or has no declared shape (onnxruntime reports an empty shape for those).
 */
export function tensorDims(session: InferenceSession, name: string, kind: 'input' | 'output'): (number | null)[] | null {
  const meta = (kind === 'input' ? session.inputMetadata : session.outputMetadata).find((m) => m.name === name);
  if (!meta?.isTensor) return null;
  // A scalar also has shape [] in onnxruntime's metadata; we cannot tell it from "unknown", and no model here takes one.
  if (meta.shape.length === 0) return null;
  return meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
}

/** `"a", "b", "c"` (or "none") for error messages listing a model's names. */
export function nameList(names: readonly string[]): string {
  return names.length ? names.map((n) => `"${n}"`).join(', ') : 'none';
}

/** `name` if it is one of `names`, else a ParamError `invalid --<param> "name" (the model's <kind>s are ...)`. */
export function checkName(param: string, name: string, names: readonly string[], kind: 'input' | 'output'): string {
  if (!names.includes(name)) throw new ParamError(param, `invalid --${param} "${name}" (the model's ${kind}s are ${nameList(names)})`);
  return name;
}

/**
 * The model input an option names, or its default. A name the user gave that the model lacks is
 * that option's mistake (`invalid --timestep-name "t" (the model's inputs are …)`); a default the
 * model lacks means the file is another kind of model (`invalid --model "m.onnx" (it has no input
 * "timesteps": …; <kind>)`), which also serves commands that have no option for the name.
 */
export function modelInputName(param: string, given: string | undefined, fallback: string, names: readonly string[], path: string, kind: string): string {
  if (given !== undefined) return checkName(param, given, names, 'input');
  if (names.includes(fallback)) return fallback;
  throw new ParamError('model', `invalid --model "${path}" (it has no input "${fallback}": its inputs are ${nameList(names)}; ${kind})`);
}

/** An image shape as channels × height × width. */
export type ImageShape = [number, number, number];

/**
 * The C×H×W of an N×C×H×W image input: the model's static dims, filled in from `given` where the
 * model leaves them symbolic. Returns null when some dim is still unknown. Throws ParamError
 * 'image-size' when `given` contradicts a static dim, or `param` when the input is not 4-D.
 */
export function resolveImageShape(session: InferenceSession, input: string, given: ImageShape | undefined, param: string, path: string): ImageShape | null {
  const dims = tensorDims(session, input, 'input');
  if (dims && dims.length !== 4) {
    throw new ParamError(param, `invalid --${param} "${path}" (input "${input}" has ${dims.length} dims, expected N×C×H×W)`);
  }
  const declared = dims ? dims.slice(1) : [null, null, null];
  const shape = declared.map((d, k) => {
    if (d !== null && given && given[k] !== d) {
      throw new ParamError('image-size', `invalid --image-size ${given.join('×')} (the model fixes C×H×W to ${declared.map((x) => x ?? '?').join('×')})`);
    }
    return d ?? given?.[k] ?? null;
  });
  return shape.every((d) => d !== null) ? (shape as ImageShape) : null;
}

/** A denoiser's time input as {@link OnnxModel.denoiserNames} resolves it; the strings word its messages. */
export interface TimeInput {
  /** The option naming it, e.g. 'timestep-name'. */
  param: string;
  /** Its name when the option is not given. */
  fallback: string;
  /** The data input, as "it is the <dataRole>" says. */
  dataRole: string;
  /** What the model should take (see {@link modelInputName}). */
  kind: string;
  /** Ends the refusal of further inputs: "it has inputs … <besides>". */
  besides: (inputName: string, timeName: string) => string;
}

/**
 * What the model wrappers share: the session, the batch size (checked against a static batch
 * dim, which run() then pads to) and timing counters for benchmarks.
 */
export abstract class OnnxModel {
  /** Number of session.run calls so far. */
  calls = 0;
  /** Wall seconds spent inside session.run (performance.now), to separate model time from the rest. */
  callSeconds = 0;
  /** Largest n that run() accepts. */
  readonly batchSize: number;
  /** Batch the session is fed: batchSize, or the model's static batch dim (inputs padded with zeros). */
  protected readonly staticBatch: number | null;

  protected constructor(
    readonly session: InferenceSession,
    input: string,
    batchSize: number,
    protected readonly param: string,
    readonly path: string,
  ) {
    checkInt('batch-size', batchSize, 1);
    const b = tensorDims(session, input, 'input')?.[0] ?? null;
    if (b !== null && batchSize > b) {
      throw new ParamError('batch-size', `invalid --batch-size ${batchSize} (the model's batch dim is fixed at ${b}: use at most ${b})`);
    }
    this.batchSize = batchSize;
    this.staticBatch = b;
  }

  /** A one-line ParamError about this model: `invalid --<param> "<path>" (<why>)`. */
  protected bad(why: string): ParamError {
    return new ParamError(this.param, `invalid --${this.param} "${this.path}" (${why})`);
  }

  /**
   * The time input and the output of a denoiser whose only inputs are its data input and the time:
   * the time input is option `time.param` (`given`) or its default `time.fallback` and must not be
   * the data input; any further input is refused, `time.besides` saying what the model should have.
   */
  protected denoiserNames(inputName: string, time: TimeInput, given: string | undefined, outputName: string | undefined): { time: string; output: string } {
    const names = this.session.inputNames;
    const timeName = modelInputName(time.param, given, time.fallback, names, this.path, time.kind);
    if (timeName === inputName) throw new ParamError(time.param, `invalid --${time.param} "${inputName}" (it is the ${time.dataRole})`);
    const output = checkName('output-name', outputName ?? this.session.outputNames[0], this.session.outputNames, 'output');
    const extra = names.filter((n) => n !== inputName && n !== timeName);
    if (extra.length) throw this.bad(`it has inputs ${nameList(extra)} ${time.besides(inputName, timeName)}`);
    return { time: timeName, output };
  }

  /** Refuses a time input (option `param`) declared with other than one dim, [N]. */
  protected checkTimeDims(param: string, timeName: string): void {
    const dims = tensorDims(this.session, timeName, 'input');
    if (dims && dims.length !== 1) throw new ParamError(param, `invalid --${param} "${timeName}" (it has ${dims.length} dims; expected [N])`);
  }

  /** The batch dim to feed for n items (n itself unless the model fixes it). */
  protected fedBatch(n: number): number {
    checkInt('n', n, 1, this.batchSize);
    return this.staticBatch ?? n;
  }

  /** session.run, timed. */
  protected async timedRun(feeds: InferenceSession.FeedsType, fetches: readonly string[]): Promise<InferenceSession.ReturnType> {
    const t0 = performance.now();
    try {
      return await this.session.run(feeds, fetches);
    } finally {
      this.calls++;
      this.callSeconds += (performance.now() - t0) / 1000;
    }
  }

  /** A float32 output's data and dims; a ParamError when it is missing or of another type. */
  protected floatOutput(out: InferenceSession.ReturnType, name: string): { data: Float32Array; dims: readonly number[] } {
    const value: OnnxValue | undefined = out[name];
    if (value?.type !== 'float32') throw this.bad(`output "${name}" is ${value ? value.type : 'missing'}, expected float32`);
    return { data: value.data as Float32Array, dims: value.dims };
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/** `data` zero-padded to `length` values (returned as is when already that long). */
export function padTo(data: Float32Array, length: number): Float32Array {
  if (data.length === length) return data;
  const out = new Float32Array(length);
  out.set(data);
  return out;
}
