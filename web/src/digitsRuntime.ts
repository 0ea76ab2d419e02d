/**
 * The shipped MNIST models on onnxruntime-web (WebAssembly backend), inside the digits worker:
 * the runtime's files and the models are served by the page's own origin (vite emits them as
 * assets: nothing is fetched from elsewhere), and the model callbacks of the round-trip engine
 * (src/images/experiment/roundTrip.ts) on top of them. One model call at a time, interactive
 * calls first (ModelLock).
 */
import * as ort from 'onnxruntime-web/wasm';
import ortMjsUrl from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import classifierUrl from '../../models/mnist/classifier.onnx?url';
import denoiserUrl from '../../models/mnist/denoiser.onnx?url';
import type { ClassifyFn, DenoiseFn } from '../../src/images/experiment/roundTrip.ts';
import { DIGITS_CHANNELS, DIGITS_SIZE } from './digitsModel.ts';

/** Serialises model calls; a waiting call of higher priority goes first (FIFO within a priority). */
export class ModelLock {
  private busy = false;
  private readonly queue: { priority: number; go: () => void }[] = [];

  async run<T>(priority: number, call: () => Promise<T>): Promise<T> {
    if (this.busy) {
      await new Promise<void>((go) => {
        const at = this.queue.findIndex((q) => q.priority < priority);
        this.queue.splice(at < 0 ? this.queue.length : at, 0, { priority, go });
      });
    }
    this.busy = true;
    try {
      return await call();
    } finally {
      const next = this.queue.shift();
      if (next) next.go();
      else this.busy = false;
    }
  }
}

/** The two sessions and what the page needs of them. */
export interface DigitsModels {
  threads: number;
  version: string;
  /** The classifier's probed layers (its outputs after the logits), in depth order. */
  layers: string[];
  /** ε of a batch of images at the model's timestep inputs; `priority` orders waiting calls. */
  denoise(priority: number): DenoiseFn;
  /** Logits and probed layers of a batch of images. */
  classify(priority: number): ClassifyFn;
}

/** Loads onnxruntime-web (with `threads` WebAssembly threads) and both shipped models. */
export async function loadDigitsModels(threads: number): Promise<DigitsModels> {
  // The runtime's glue and binary from the origin: a threaded runtime inside a bundled worker
  // hangs unless it can load its own .mjs for its thread workers (web/README.md, "The digits view (Real digits)").
  ort.env.wasm.wasmPaths = { mjs: ortMjsUrl, wasm: ortWasmUrl };
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const denoiser = await ort.InferenceSession.create(denoiserUrl, options);
  const classifier = await ort.InferenceSession.create(classifierUrl, options);
  const lock = new ModelLock();
  const per = DIGITS_CHANNELS * DIGITS_SIZE * DIGITS_SIZE;
  const shape = (n: number) => [n, DIGITS_CHANNELS, DIGITS_SIZE, DIGITS_SIZE];
  const [xName, tName] = denoiser.inputNames;
  const [cName] = classifier.inputNames;
  const [logitsName, ...layerNames] = classifier.outputNames;
  return {
    threads: ort.env.wasm.numThreads ?? threads,
    version: ort.env.versions.web ?? ort.env.versions.common,
    layers: layerNames,
    denoise: (priority) => async (x, n, timesteps) => {
      const feeds = { [xName]: new ort.Tensor('float32', x.subarray(0, n * per), shape(n)), [tName]: new ort.Tensor('float32', Float32Array.from(timesteps), [n]) };
      const out = await lock.run(priority, () => denoiser.run(feeds));
      const eps = out[denoiser.outputNames[0]];
      return { output: eps.data as Float32Array, outputChannels: eps.dims[1] };
    },
    classify: (priority) => async (x, n) => {
      const out = await lock.run(priority, () => classifier.run({ [cName]: new ort.Tensor('float32', x.subarray(0, n * per), shape(n)) }));
      const logits = out[logitsName];
      return {
        logits: logits.data as Float32Array,
        classes: logits.dims[1],
        layers: layerNames.map((name) => ({ data: out[name].data as Float32Array, shape: [...out[name].dims] })),
      };
    },
  };
}
