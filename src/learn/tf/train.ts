import type { Scalar, Tensor } from '@tensorflow/tfjs';
import { checkInt, checkNumber, ParamError } from '../../core/errors.ts';
import { createRng, type Rng } from '../../core/random.ts';
import { initBpUnet, paramShapes, validateBpUnetConfig, type BpUnetConfig, type BpUnetParams } from '../bpUnet.ts';
import { discreteSchedule, type DiscreteSchedule } from '../schedule.ts';
import { Adam } from './adam.ts';
import { initTf, type Tf, type TfBackend } from './backend.ts';
import { hashTokens, hasCheckpoint, readCheckpoint, writeCheckpoint, type TrainSettings } from './checkpoint.ts';
import { d3pmLoss, noiseTokens, oneHotInput } from './loss.ts';
import { bpUnetForward, disposeVariables, fromVariables, toVariables, type BpUnetVariables } from './model.ts';

/** Progress of {@link train}, reported after every step. */
export interface TrainProgress {
  /** Steps done (1 … steps). */
  step: number;
  /** Total steps of the run. */
  steps: number;
  /** Training loss of this step's batch. */
  loss: number;
  /** Steps per second over the steps this call has run (resumed steps excluded). */
  stepsPerSecond: number;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model. */
  config: BpUnetConfig;
  /** Training data: N × d tokens (0 … v − 1), datum-major, d = s^L. */
  data: Int32Array;
  /** Total optimisation steps (a resumed run continues up to this count). */
  steps: number;
  /** Batch size (default 64, the published one). */
  batch?: number;
  /** Adam learning rate (default 1e−4). */
  lr?: number;
  /** Adam β₁, β₂ (default 0.9, 0.999). */
  betas?: [number, number];
  /** Adam ε (default 1e−8, PyTorch's). */
  eps?: number;
  /** Seed of the initialisation, the batches and the noise. */
  seed: number;
  /** Training schedule (default {@link discreteSchedule}(): T = 200, β 1e−3 … 0.1). */
  schedule?: DiscreteSchedule;
  /** Folder for `checkpoint.bin` + `checkpoint.json`; none: no checkpoints. */
  checkpointDir?: string;
  /** Write a checkpoint every this many steps (default 1000), and always after the last step. */
  checkpointEvery?: number;
  /**
   * Continue from `checkpointDir`'s checkpoint if there is one (its config and settings must match:
   * ParamError otherwise); without one the run starts from step 0. Default false: a run starts
   * afresh and overwrites the folder's checkpoint.
   */
  resume?: boolean;
  /** Called after every step. */
  onProgress?: (p: TrainProgress) => void;
  /** tfjs backend (default wasm). */
  backend?: TfBackend;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** The trained parameters (PyTorch layout, bpUnet.ts names and order). */
  params: BpUnetParams;
  /** Training loss of every step 1 … steps (those before a resume come from the checkpoint). */
  losses: number[];
  /** The step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
}

/**
 * Trains the bpUNet on `data` with the published recipe (docs/science.md §7): per step a batch of
 * datums, t uniform in 1 … T per datum, x_t ~ q(x_t | x_0), loss {@link d3pmLoss} of
 * the network's logits, one Adam step (PyTorch's update rule, bias corrections in float64).
 *
 * Randomness: the initial weights are initBpUnet(config, createRng(seed, 0)); the batches walk
 * through per-epoch shuffles (epoch e: Fisher–Yates with createRng(seed, 2, e)) like a shuffling
 * data loader, so every datum is seen once per epoch and a batch may straddle two epochs; the
 * times and the noise of step k come from createRng(seed, 1, k). Everything is a function of the
 * step number, so a resumed run draws what an uninterrupted one would and ends with bit-identical
 * weights (tfjs-wasm is deterministic on one thread).
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const config = validateBpUnetConfig(options.config);
  const { vocab: v, tuple: s, depth: L } = config;
  const d = s ** L;
  const steps = checkInt('steps', options.steps, 0, 1e9);
  const batch = checkInt('batch', options.batch ?? 64, 1, 1 << 20);
  const lr = checkNumber('lr', options.lr ?? 1e-4, 0, 10);
  const [beta1, beta2] = options.betas ?? [0.9, 0.999];
  checkNumber('beta1', beta1, 0, 1);
  checkNumber('beta2', beta2, 0, 1);
  if (beta1 >= 1 || beta2 >= 1) throw new ParamError('betas', `invalid Adam betas ${beta1}, ${beta2} (expected numbers in [0, 1))`);
  const eps = checkNumber('eps', options.eps ?? 1e-8, 0, 1);
  const seed = checkInt('seed', options.seed, 0);
  const checkpointEvery = checkInt('checkpointEvery', options.checkpointEvery ?? 1000, 1);
  const schedule = options.schedule ?? discreteSchedule();
  const data = options.data;
  const count = checkData(data, d, v);
  const settings: TrainSettings = {
    seed,
    batch,
    lr,
    beta1,
    beta2,
    eps,
    schedule: { steps: schedule.steps, betaStart: schedule.betaStart, betaEnd: schedule.betaEnd },
    dataCount: count,
    dataHash: hashTokens(data),
  };

  let start = 0;
  let losses: number[] = [];
  let initial = initBpUnet(config, createRng(seed, 0));
  let moments: { m: BpUnetParams; v: BpUnetParams } | null = null;
  const dir = options.checkpointDir;
  if (options.resume && dir === undefined) throw new ParamError('resume', 'resume needs a checkpoint folder (checkpointDir)');
  if (options.resume && dir !== undefined && hasCheckpoint(dir)) {
    const ck = readCheckpoint(dir);
    checkResumable(ck.config, config, ck.settings, settings);
    if (ck.step > steps) throw new ParamError('steps', `the checkpoint is at step ${ck.step}, beyond steps ${steps}`);
    start = ck.step;
    losses = ck.losses.slice();
    initial = ck.params;
    moments = { m: ck.adamM, v: ck.adamV };
  }

  const tf = await initTf(options.backend ?? 'wasm');
  const vars = toVariables(tf, initial);
  const adam = new Adam(tf, vars, paramShapes(config).map(([name]) => name), { lr, beta1, beta2, eps }, start, moments);
  const batches = new EpochBatches(count, seed);
  try {
    const t0 = performance.now();
    for (let step = start; step < steps; step++) {
      const rng = createRng(seed, 1, step);
      const idx = batches.indices(step * batch, batch);
      const x0 = gatherRows(data, idx, d);
      const t = new Int32Array(batch);
      for (let i = 0; i < batch; i++) t[i] = 1 + rng.nextInt(schedule.steps);
      const xt = noiseTokens(config.process, x0, t, v, schedule, rng);
      const loss = trainStep(tf, vars, adam, config, x0, xt, t, schedule);
      losses.push(loss);
      const done = step + 1;
      if (dir !== undefined && (done % checkpointEvery === 0 || done === steps)) {
        writeCheckpoint(dir, { config, step: done, settings, losses, params: fromVariables(vars, config), adamM: adam.moments('m'), adamV: adam.moments('v') });
      }
      options.onProgress?.({ step: done, steps, loss, stepsPerSecond: (done - start) / ((performance.now() - t0) / 1000) });
    }
    return { params: fromVariables(vars, config), losses, resumedFrom: start };
  } finally {
    adam.dispose();
    disposeVariables(vars);
  }
}

/** Options of {@link lossOn}. */
export interface LossOnOptions {
  /** Inclusive time windows [from, to] (default: T split into 4 equal windows). */
  tWindows?: [number, number][];
  /** Noisy copies of each datum per window (default 1). */
  draws?: number;
  /** Seed of the times and the noise (default 0). */
  seed?: number;
  /** Forward batch size (default 256); results do not depend on it. */
  batch?: number;
  /** tfjs backend (default wasm). */
  backend?: TfBackend;
}

/** The mean loss over one time window. */
export interface WindowLoss {
  from: number;
  to: number;
  /** Mean of {@link d3pmLoss} per token over the window's draws. */
  loss: number;
  /** Noisy datums evaluated (datums × draws). */
  count: number;
}

/**
 * The loss of trained parameters on a dataset, per time window (train/test evaluation): for each
 * window [from, to], each datum n and draw k, t is uniform in from … to and x_t ~ q(x_t | x_0),
 * both from createRng(seed, 3, window, n, k); returns the mean of the per-token loss over all of
 * them. The draws do not depend on the batch size.
 */
export async function lossOn(params: BpUnetParams, config: BpUnetConfig, data: Int32Array, schedule: DiscreteSchedule, options: LossOnOptions = {}): Promise<WindowLoss[]> {
  validateBpUnetConfig(config);
  const { vocab: v, tuple: s, depth: L } = config;
  const d = s ** L;
  const count = checkData(data, d, v);
  const T = schedule.steps;
  const windows = options.tWindows ?? [0, 1, 2, 3].map((k): [number, number] => [Math.floor((k * T) / 4) + 1, Math.floor(((k + 1) * T) / 4)]).filter(([a, b]) => a <= b);
  for (const [a, b] of windows) {
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 1 && a <= b && b <= T)) throw new ParamError('tWindows', `invalid time window [${a}, ${b}] (expected integers 1 ≤ from ≤ to ≤ ${T})`);
  }
  const draws = checkInt('draws', options.draws ?? 1, 1, 1e6);
  const seed = checkInt('seed', options.seed ?? 0, 0);
  const batch = checkInt('batch', options.batch ?? 256, 1, 1 << 20);
  const tf = await initTf(options.backend ?? 'wasm');
  const tensors: Record<string, Tensor> = {};
  for (const [name] of paramShapes(config)) {
    const p = params[name];
    if (!p) throw new ParamError('params', `parameter ${name} is missing`);
    tensors[name] = tf.tensor(p.data, p.shape, 'float32');
  }
  try {
    const out: WindowLoss[] = [];
    const total = count * draws;
    for (let w = 0; w < windows.length; w++) {
      const [from, to] = windows[w];
      let sum = 0;
      for (let first = 0; first < total; first += batch) {
        const size = Math.min(batch, total - first);
        const x0 = new Int32Array(size * d);
        const xt = new Int32Array(size * d);
        const t = new Int32Array(size);
        for (let j = 0; j < size; j++) {
          const n = Math.floor((first + j) / draws);
          const k = (first + j) % draws;
          const rng = createRng(seed, 3, w, n, k);
          t[j] = from + rng.nextInt(to - from + 1);
          const row = data.subarray(n * d, (n + 1) * d);
          x0.set(row, j * d);
          xt.set(noiseTokens(config.process, row, t.subarray(j, j + 1), v, schedule, rng), j * d);
        }
        const lossT = tf.tidy(() => {
          const x = tf.tensor3d(oneHotInput(xt, size, v), [size, v, d]);
          const logits = bpUnetForward(tf, tensors, config, x, Float64Array.from(t, (ti) => ti / T));
          return d3pmLoss(tf, config.process, logits, x0, xt, t, schedule);
        });
        sum += (lossT.dataSync()[0] as number) * size;
        lossT.dispose();
      }
      out.push({ from, to, loss: sum / total, count: total });
    }
    return out;
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/** One forward + backward + Adam update; returns the batch loss. */
function trainStep(tf: Tf, vars: BpUnetVariables, adam: Adam, config: BpUnetConfig, x0: Int32Array, xt: Int32Array, t: Int32Array, schedule: DiscreteSchedule): number {
  const n = t.length;
  const { vocab: v } = config;
  const d = x0.length / n;
  const tOverT = Float64Array.from(t, (ti) => ti / schedule.steps);
  const x = tf.tensor3d(oneHotInput(xt, n, v), [n, v, d]);
  const { value, grads } = tf.variableGrads(() => d3pmLoss(tf, config.process, bpUnetForward(tf, vars, config, x, tOverT), x0, xt, t, schedule) as Scalar, adam.list);
  x.dispose();
  adam.update(grads);
  for (const g of Object.values(grads)) g.dispose();
  // Read after the update: a separate (synchronous) read, never a dataSync result out of a tidy.
  const loss = value.dataSync()[0] as number;
  value.dispose();
  return loss;
}

/** Per-epoch shuffles of 0 … count − 1 (epoch e: Fisher–Yates with createRng(seed, 2, e)), read as one stream. */
export class EpochBatches {
  private epoch = -1;
  private perm = new Int32Array(0);

  constructor(
    private readonly count: number,
    private readonly seed: number,
  ) {}

  /** Entries first … first + size − 1 of the concatenated epochs. */
  indices(first: number, size: number): Int32Array {
    const out = new Int32Array(size);
    for (let j = 0; j < size; j++) {
      const pos = first + j;
      const e = Math.floor(pos / this.count);
      if (e !== this.epoch) this.shuffle(e);
      out[j] = this.perm[pos - e * this.count];
    }
    return out;
  }

  private shuffle(e: number): void {
    const rng: Rng = createRng(this.seed, 2, e);
    const p = Int32Array.from({ length: this.count }, (_, i) => i);
    for (let i = this.count - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      const tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
    }
    this.perm = p;
    this.epoch = e;
  }
}

function gatherRows(data: Int32Array, idx: Int32Array, d: number): Int32Array {
  const out = new Int32Array(idx.length * d);
  for (let j = 0; j < idx.length; j++) out.set(data.subarray(idx[j] * d, (idx[j] + 1) * d), j * d);
  return out;
}

function checkData(data: Int32Array, d: number, v: number): number {
  if (!(data instanceof Int32Array) || data.length === 0 || data.length % d !== 0) {
    throw new ParamError('data', `training data must be a non-empty Int32Array of N × ${d} tokens`);
  }
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] >= v) throw new ParamError('data', `token ${data[i]} at index ${i} outside 0 … ${v - 1}`);
  }
  return data.length / d;
}

function checkResumable(saved: BpUnetConfig, config: BpUnetConfig, savedSettings: TrainSettings, settings: TrainSettings): void {
  const keys: (keyof BpUnetConfig)[] = ['vocab', 'tuple', 'depth', 'width', 'process'];
  for (const k of keys) {
    if (saved[k] !== config[k]) throw new ParamError('resume', `cannot resume: the checkpoint has ${k} ${saved[k]}, this run ${config[k]}`);
  }
  const flat = (x: TrainSettings) => ({ ...x, schedule: `${x.schedule.steps}/${x.schedule.betaStart}/${x.schedule.betaEnd}` });
  const a = flat(savedSettings);
  const b = flat(settings);
  for (const k of Object.keys(b) as (keyof typeof b)[]) {
    if (a[k] !== b[k]) throw new ParamError('resume', `cannot resume: the checkpoint has ${k} ${String(a[k])}, this run ${String(b[k])}`);
  }
}
