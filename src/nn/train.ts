import { checkInt, checkNumber, ParamError } from '../core/errors.ts';
import { adamStep, emaStep } from './adam.ts';
import { hasCheckpoint, readCheckpoint, writeCheckpoint, type MonitorPoint } from './checkpoint.ts';
import { Graph, type Value } from './graph.ts';
import { cloneParams, checkParams, sizeOf, type NamedParams, type ParamShapes } from './params.ts';
import { checkThreads, defaultThreads, floatTensor } from './runtime.ts';
import { createCpuSession, type Device, type InferenceSession } from './session.ts';

/** Progress of {@link trainModel}, reported after every step. */
export interface TrainProgress {
  /** Steps done (1 … steps). */
  step: number;
  steps: number;
  /** This step's batch loss. */
  loss: number;
  /** Over the steps this call has run (resumed steps excluded). */
  stepsPerSecond: number;
  samplesPerSecond: number;
  /** Seconds left at the current speed. */
  etaSeconds: number;
}

/** What to train and how: the one training loop of every model here. */
export interface TrainSpec {
  /** What is trained, e.g. 'mnist-unet' (recorded in checkpoints, checked on resume). */
  model: string;
  /** The model's config (recorded, checked on resume). */
  config: unknown;
  /** Parameter names and shapes, in checkpoint order. */
  shapes: ParamShapes;
  /** Initial parameters (ignored when resuming). */
  init: NamedParams;
  /** Settings a resumed run must share with its checkpoint (seed, batch, lr, data, …). */
  settings: Record<string, number | string>;
  /** Total optimisation steps (a resumed run continues up to this count). */
  steps: number;
  /** The batch size the training graph is built for. */
  batch: number;
  /**
   * Builds the scalar loss for `batch` datums: declares its data inputs with `g.input` and reads
   * the parameters, already declared in `shapes` order, from `params`.
   */
  lossGraph: (g: Graph, params: Record<string, Value>) => Value;
  /** Data feeds of step k (0-based), one Float32Array per declared input: a function of k only, so a resumed run draws the same. */
  feeds: (step: number) => Record<string, Float32Array>;
  /** Adam's learning rate, or its value at step k (0-based). */
  lr: number | ((step: number) => number);
  /** Adam β₁, β₂ (default 0.9, 0.999). */
  betas?: [number, number];
  /** Adam ε (default 1e−8). */
  eps?: number;
  /** Decay of the exponential moving average of the weights, warmed up as min(decay, (1 + k)/(10 + k)); 0 (default): the average is the weights. */
  emaDecay?: number;
  /** onnxruntime intra-op threads (default: all cores). Results are identical from run to run at a given count. */
  threads?: number;
  /** Where the training step runs (default 'cpu'; 'cuda' needs onnxruntime-node's CUDA provider). */
  device?: Device;
  /** Folder of the checkpoint; none: no checkpoints. */
  checkpointDir?: string;
  /** Checkpoint every this many steps (default 100), and after the last. */
  checkpointEvery?: number;
  /** Continue from `checkpointDir`'s checkpoint if there is one (it must be of this model, config and settings). */
  resume?: boolean;
  /**
   * A metric measured every `every` steps and after the last (e.g. the loss on held-out data), on
   * the weights the run would ship (the moving average when emaDecay > 0); kept in the checkpoint,
   * so a resumed run returns the whole curve.
   */
  monitor?: { every: number; measure: (params: NamedParams, step: number) => Promise<number> };
  onProgress?: (p: TrainProgress) => void;
}

export interface TrainResult {
  params: NamedParams;
  /** The moving average of the weights (the weights themselves when emaDecay is 0). */
  ema: NamedParams;
  /** Loss of every step 1 … steps (those before a resume come from the checkpoint). */
  losses: number[];
  /** The step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  /** Training seconds, summed over resumed runs. */
  seconds: number;
  /** The monitored metric at the steps it was measured (empty without `monitor`). */
  monitor: MonitorPoint[];
}

/** Training stopped because the loss became NaN or infinite (exit 2 in the CLI, as a bad setting). */
export class TrainingDivergedError extends ParamError {
  constructor(message: string) {
    super('lr', message);
    this.name = 'TrainingDivergedError';
  }
}

/** The training step of a model as an ONNX graph: data inputs and parameters in, loss and gradients out. */
export interface TrainStepGraph {
  bytes: Uint8Array;
  /** The data inputs the loss declared, with their shapes. */
  inputs: { name: string; shape: number[] }[];
  /** Output names: 'loss', then `grad.<param>` per parameter in `shapes` order. */
  gradNames: string[];
}

/** Builds the forward + loss + backward graph of one training step (parameters as graph inputs). */
export function buildTrainStep(shapes: ParamShapes, lossGraph: (g: Graph, params: Record<string, Value>) => Value): TrainStepGraph {
  const g = new Graph();
  const params: Record<string, Value> = {};
  for (const [name, shape] of shapes) params[name] = g.param(name, shape);
  const loss = lossGraph(g, params);
  const list = shapes.map(([name]) => params[name]);
  const grads = g.gradients(loss, list);
  const gradNames = shapes.map(([name]) => `grad.${name}`);
  const bytes = g.toOnnx({ name: 'hierdiff-train-step', outputs: [['loss', loss], ...grads.map((v, i): [string, Value] => [gradNames[i], v])] });
  const inputs = g.inputs().map((v) => ({
    name: v.name,
    shape: v.shape.map((d) => {
      if (typeof d !== 'number') throw new Error(`training input ${v.name} has a symbolic dim`);
      return d;
    }),
  }));
  return { bytes, inputs, gradNames };
}

/**
 * Trains a model with Adam (PyTorch's rule) on onnxruntime: each step runs the graph of
 * {@link buildTrainStep} on all `threads`, then updates the weights and their moving average on
 * the host. Everything random is the caller's and a function of the step number, and
 * onnxruntime partitions work the same way at a given thread count, so a run cut at a checkpoint
 * and resumed ends with the weights of an uncut run at the same thread count.
 *
 * Throws ParamError for bad settings or a checkpoint of another model, config, settings or format;
 * {@link TrainingDivergedError} when the loss is not finite (naming the step and the last good
 * checkpoint, which is left as it was).
 */
export async function trainModel(spec: TrainSpec): Promise<TrainResult> {
  const s = runSettings(spec);
  const st = startState(spec, s);
  if (st.start === s.steps) return resultOf(st);
  const graph = buildTrainStep(spec.shapes, spec.lossGraph);
  const session: InferenceSession = await createCpuSession(graph.bytes, s.threads, spec.device ?? 'cpu');
  // The parameter tensors wrap the arrays Adam updates in place: built once.
  const paramFeeds = Object.fromEntries(spec.shapes.map(([name, shape]) => [name, floatTensor(st.params[name].data, shape)]));
  try {
    await runSteps(spec, s, st, graph, session, paramFeeds);
    return resultOf(st);
  } finally {
    await session.release();
  }
}

type Tensor = ReturnType<typeof floatTensor>;

/** The checked settings of a {@link trainModel} run. */
interface RunSettings {
  steps: number;
  batch: number;
  lrAt: (step: number) => number;
  adam: { beta1: number; beta2: number; eps: number };
  emaDecay: number;
  threads: number;
  /** Checkpoint cadence. */
  every: number;
  dir: string | undefined;
  /** Monitor cadence (0 without a monitor). */
  monitorEvery: number;
}

/** What a run carries from step to step: the checkpoint's content (fresh or resumed). */
interface RunState {
  /** The step the run started from (0, or the resumed checkpoint's). */
  start: number;
  losses: number[];
  seconds: number;
  monitor: MonitorPoint[];
  params: NamedParams;
  ema: NamedParams;
  adamM: NamedParams;
  adamV: NamedParams;
}

/** The clocks of the step loop (ms): `t0` for speed, `lastSave` for `seconds`, both moved past monitor time. */
interface RunClock {
  t0: number;
  lastSave: number;
  /** The step of the last checkpoint written (named when the loss diverges). */
  lastGood: number;
}

/** Checks the spec's settings (ParamError on a bad one), in the order errors are reported. */
function runSettings(spec: TrainSpec): RunSettings {
  const steps = checkInt('steps', spec.steps, 0, 1e9);
  const batch = checkInt('batch', spec.batch, 1, 1 << 20);
  const lrAt =
    typeof spec.lr === 'function'
      ? spec.lr
      : (
          (lr: number) => () =>
            lr
        )(checkNumber('lr', spec.lr, 0, 10));
  const [beta1, beta2] = spec.betas ?? [0.9, 0.999];
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new ParamError('betas', `invalid Adam betas ${beta1}, ${beta2} (expected numbers in [0, 1))`);
  const eps = checkNumber('eps', spec.eps ?? 1e-8, 0, 1);
  const emaDecay = checkNumber('emaDecay', spec.emaDecay ?? 0, 0, 1);
  const threads = checkThreads(spec.threads ?? defaultThreads());
  const every = checkInt('checkpointEvery', spec.checkpointEvery ?? 100, 1);
  const dir = spec.checkpointDir;
  if (spec.resume && dir === undefined) throw new ParamError('resume', 'resume needs a checkpoint folder');
  const monitorEvery = spec.monitor === undefined ? 0 : checkInt('monitor.every', spec.monitor.every, 1);
  return { steps, batch, lrAt, adam: { beta1, beta2, eps }, emaDecay, threads, every, dir, monitorEvery };
}

/** The state to start from: the checkpoint's when resuming from one, else the initial parameters and zero Adam moments. */
function startState(spec: TrainSpec, s: RunSettings): RunState {
  if (spec.resume && s.dir !== undefined && hasCheckpoint(s.dir)) {
    const ck = readCheckpoint(s.dir, spec.shapes);
    checkResumable(ck.header, spec);
    if (ck.header.step > s.steps) throw new ParamError('steps', `the checkpoint is at step ${ck.header.step}, beyond steps ${s.steps}`);
    const { params, ema, adamM, adamV } = ck;
    return { start: ck.header.step, losses: ck.header.losses.slice(), seconds: ck.header.seconds, monitor: (ck.header.monitor ?? []).slice(), params, ema, adamM, adamV };
  }
  checkParams(spec.init, spec.shapes);
  const zeros = () => Object.fromEntries(spec.shapes.map(([name, shape]) => [name, { shape: [...shape], data: new Float32Array(sizeOf(shape)) }]));
  return { start: 0, losses: [], seconds: 0, monitor: [], params: cloneParams(spec.init, spec.shapes), ema: cloneParams(spec.init, spec.shapes), adamM: zeros(), adamV: zeros() };
}

function resultOf(st: RunState): TrainResult {
  return { params: st.params, ema: st.ema, losses: st.losses, resumedFrom: st.start, seconds: st.seconds, monitor: st.monitor };
}

/** The step loop from `st.start` to `s.steps`: updates `st` in place, checkpointing and reporting as it goes. */
async function runSteps(spec: TrainSpec, s: RunSettings, st: RunState, graph: TrainStepGraph, session: InferenceSession, paramFeeds: Record<string, Tensor>): Promise<void> {
  const t0 = performance.now();
  const clock: RunClock = { t0, lastSave: t0, lastGood: st.start };
  const { lrAt } = s; // called unbound, as the caller's function always was
  for (let step = st.start; step < s.steps; step++) {
    const out = await session.run(stepFeeds(spec, graph, paramFeeds, step));
    const loss = (out.loss.data as Float32Array)[0];
    const k = step + 1;
    if (!Number.isFinite(loss)) {
      const where = s.dir !== undefined && clock.lastGood > 0 ? `the last good checkpoint is step ${clock.lastGood} in ${s.dir}` : 'no checkpoint was written';
      throw new TrainingDivergedError(`training diverged at step ${k} (loss ${loss}); ${where}: try a lower learning rate`);
    }
    const grads = Object.fromEntries(spec.shapes.map(([name], i) => [name, out[graph.gradNames[i]].data as Float32Array]));
    adamStep(spec.shapes, st.params, grads, st.adamM, st.adamV, k, lrAt(step), s.adam);
    emaStep(spec.shapes, st.ema, st.params, s.emaDecay === 0 ? 0 : Math.min(s.emaDecay, (1 + k) / (10 + k)));
    st.losses.push(loss);
    if (spec.monitor !== undefined && (k % s.monitorEvery === 0 || k === s.steps)) await measureMonitor(spec.monitor, s, st, clock, k);
    const now = performance.now();
    if (s.dir !== undefined && (k % s.every === 0 || k === s.steps)) saveCheckpoint(spec, s.dir, st, clock, k, now);
    const sps = (k - st.start) / ((now - clock.t0) / 1000);
    spec.onProgress?.({ step: k, steps: s.steps, loss, stepsPerSecond: sps, samplesPerSecond: sps * s.batch, etaSeconds: (s.steps - k) / sps });
  }
  if (s.dir === undefined) st.seconds += (performance.now() - clock.t0) / 1000;
}

/** The feeds of step `step`: the parameters and the caller's data, checked against the inputs the loss declared. */
function stepFeeds(spec: TrainSpec, graph: TrainStepGraph, paramFeeds: Record<string, Tensor>, step: number): Record<string, Tensor> {
  const data = spec.feeds(step);
  const feeds: Record<string, Tensor> = { ...paramFeeds };
  for (const { name, shape } of graph.inputs) {
    const d = data[name];
    if (!(d instanceof Float32Array) || d.length !== sizeOf(shape))
      throw new ParamError('feeds', `training input ${name}: expected ${sizeOf(shape)} float32 values ([${shape.join(', ')}]), got ${d instanceof Float32Array ? d.length : typeof d}`);
    feeds[name] = floatTensor(d, shape);
  }
  return feeds;
}

/** Records the monitored metric at step k on the weights the run would ship. */
async function measureMonitor(monitor: NonNullable<TrainSpec['monitor']>, s: RunSettings, st: RunState, clock: RunClock, k: number): Promise<void> {
  // Measured outside the training clock: `seconds` counts optimisation only.
  const before = performance.now();
  st.monitor.push({ step: k, value: await monitor.measure(s.emaDecay === 0 ? st.params : st.ema, k) });
  const spent = performance.now() - before;
  clock.t0 += spent;
  clock.lastSave += spent;
}

/** Writes the checkpoint of step k, adding the training time since the last one to `seconds`. */
function saveCheckpoint(spec: TrainSpec, dir: string, st: RunState, clock: RunClock, k: number, now: number): void {
  st.seconds += (now - clock.lastSave) / 1000;
  clock.lastSave = now;
  writeCheckpoint(dir, spec.shapes, {
    header: { model: spec.model, config: spec.config, settings: spec.settings, step: k, losses: st.losses, seconds: st.seconds, ...(spec.monitor !== undefined ? { monitor: st.monitor } : {}) },
    params: st.params,
    adamM: st.adamM,
    adamV: st.adamV,
    ema: st.ema,
  });
  clock.lastGood = k;
}

/** A ParamError unless the checkpoint was written by a run of the same model, config and settings. */
function checkResumable(header: { model: string; config: unknown; settings: Record<string, number | string> }, spec: TrainSpec): void {
  if (header.model !== spec.model) throw new ParamError('resume', `cannot resume: the checkpoint trains ${header.model}, this run ${spec.model}`);
  if (JSON.stringify(header.config) !== JSON.stringify(spec.config))
    throw new ParamError('resume', `cannot resume: the checkpoint has another ${spec.model} config (${JSON.stringify(header.config)})`);
  for (const k of new Set([...Object.keys(header.settings), ...Object.keys(spec.settings)])) {
    if (header.settings[k] !== spec.settings[k]) throw new ParamError('resume', `cannot resume: the checkpoint has ${k} ${String(header.settings[k])}, this run ${String(spec.settings[k])}`);
  }
}
