import { checkInt, checkNumber, ParamError, resolveVariant } from '../core/errors.ts';
import { createRng } from '../core/random.ts';
import { EpochBatches } from '../nn/batches.ts';
import { Graph, type Value } from '../nn/graph.ts';
import { checkThreads, defaultThreads, floatTensor } from '../nn/runtime.ts';
import { createCpuSession } from '../nn/session.ts';
import { learningRate, LR_DECAYS, type LrDecay } from '../nn/lrSchedule.ts';
import type { MonitorPoint } from '../nn/checkpoint.ts';
import { trainModel, type TrainProgress } from '../nn/train.ts';
import { initBpUnet, paramShapes, validateBpUnetConfig, type BpUnetConfig, type BpUnetParams } from './bpUnet.ts';
import { bpUnetBatchLoss, bpUnetDatumLoss, bpUnetFeeds, checkData, gatherRows } from './bpUnetFeeds.ts';
import { noiseTokens } from './noiseTokens.ts';
import { discreteSchedule, type DiscreteSchedule } from './schedule.ts';

/** The `model` name of bpUNet checkpoints (nn/checkpoint.ts). */
export const BPUNET_MODEL = 'bpunet';

/** Progress of {@link train}, reported after every step (the one training loop's). */
export type { TrainProgress } from '../nn/train.ts';

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
  /** Adam's peak learning rate (default {@link DEFAULT_LR}). */
  lr?: number;
  /** Steps of linear learning-rate warm-up from lr/warmup to lr (default {@link DEFAULT_WARMUP}; 0: none). */
  warmup?: number;
  /** After the warm-up: 'cosine' decays the rate to 0 at `steps` (a resumed run must keep `steps`), 'none' keeps it (default {@link DEFAULT_DECAY}). */
  decay?: LrDecay;
  /** Adam β₁, β₂ (default 0.9, 0.999). */
  betas?: [number, number];
  /** Adam ε (default 1e−8, PyTorch's). */
  eps?: number;
  /** Seed of the initialisation, the batches and the noise. */
  seed: number;
  /** Training schedule (default {@link discreteSchedule}(): T = 200, β 1e−3 … 0.1). */
  schedule?: DiscreteSchedule;
  /** Folder of the checkpoint (nn/checkpoint.ts: `checkpoint.bin` + `checkpoint.json`); none: no checkpoints. */
  checkpointDir?: string;
  /** Write a checkpoint every this many steps (default 1000), and always after the last step. */
  checkpointEvery?: number;
  /**
   * Continue from `checkpointDir`'s checkpoint if there is one (its config, settings and data must
   * match: ParamError otherwise); without one the run starts from step 0. Default false: a run
   * starts afresh and overwrites the folder's checkpoint.
   */
  resume?: boolean;
  /** onnxruntime threads (default: all cores). Runs are bit-identical at a given count. */
  threads?: number;
  /**
   * Held-out data whose loss ({@link lossOn} over all times 1 … T, one fixed draw per datum, seed
   * {@link TEST_LOSS_SEED}) is measured every `every` steps and after the last: the curve a
   * convergence criterion reads ({@link convergence}).
   */
  test?: { data: Int32Array; every: number };
  /** Called after every step. */
  onProgress?: (p: TrainProgress) => void;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** The trained parameters (PyTorch layout, bpUnet.ts names and order). */
  params: BpUnetParams;
  /** Training loss of every step 1 … steps (those before a resume come from the checkpoint). */
  losses: number[];
  /** The step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  /** Training seconds, summed over resumed runs. */
  seconds: number;
  /** The held-out loss at the steps it was measured (empty without `test`). */
  testLoss: MonitorPoint[];
}

/** The seed of the held-out loss's times and noise during training (the same draws at every measurement). */
export const TEST_LOSS_SEED = 4;

/** The default peak learning rate of {@link train} and `hierdiff train` (docs/learning.md: chosen by measurement). */
export const DEFAULT_LR = 1e-2;
/** The default warm-up steps of {@link train} and `hierdiff train`. */
export const DEFAULT_WARMUP = 100;
/** The default decay of {@link train} and `hierdiff train`. */
export const DEFAULT_DECAY: LrDecay = 'none';

export { learningRate, LR_DECAYS, type LrDecay } from '../nn/lrSchedule.ts';

/**
 * FNV-1a (32-bit) over the int32 tokens, as 8 hex digits: a cheap guard against resuming on
 * other data.
 */
export function hashTokens(tokens: Int32Array): string {
  let h = 0x811c9dc5;
  const bytes = new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * Trains the bpUNet on `data` with the published recipe (docs/science.md §7) on onnxruntime
 * (nn/train.ts: forward, loss and backward as one ONNX graph on `threads` cores): per step a batch
 * of datums, t uniform in 1 … T per datum, x_t ~ q(x_t | x_0), the D3PM loss of bpUnetLoss.ts,
 * one Adam step (PyTorch's update rule) at the learning rate of {@link learningRate} (warm-up, then
 * constant or cosine decay).
 *
 * Randomness: the initial weights are initBpUnet(config, createRng(seed, 0)); the batches walk
 * through per-epoch shuffles (EpochBatches(count, seed): epoch e shuffled with createRng(seed, 2, e));
 * the times and the noise of step k come from createRng(seed, 1, k). Everything is a function of the
 * step number, so a run resumed from a checkpoint draws what an uninterrupted one would and ends
 * with bit-identical weights at the same thread count.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const config = validateBpUnetConfig(options.config);
  const { vocab: v, tuple: s, depth: L } = config;
  const d = s ** L;
  const steps = checkInt('steps', options.steps, 0, 1e9);
  const batch = checkInt('batch', options.batch ?? 64, 1, 1 << 20);
  const lr = checkNumber('lr', options.lr ?? DEFAULT_LR, 0, 10);
  const warmup = checkInt('warmup', options.warmup ?? DEFAULT_WARMUP, 0, 1e9);
  const decay = resolveVariant('decay', options.decay ?? DEFAULT_DECAY, LR_DECAYS);
  const [beta1, beta2] = options.betas ?? [0.9, 0.999];
  checkNumber('beta1', beta1, 0, 1);
  checkNumber('beta2', beta2, 0, 1);
  if (beta1 >= 1 || beta2 >= 1) throw new ParamError('betas', `invalid Adam betas ${beta1}, ${beta2} (expected numbers in [0, 1))`);
  const eps = checkNumber('eps', options.eps ?? 1e-8, 0, 1);
  const seed = checkInt('seed', options.seed, 0);
  const checkpointEvery = checkInt('checkpointEvery', options.checkpointEvery ?? 1000, 1);
  const threads = checkThreads(options.threads ?? defaultThreads());
  const schedule = options.schedule ?? discreteSchedule();
  const data = options.data;
  const count = checkData(data, d, v);
  if (options.resume && options.checkpointDir === undefined) throw new ParamError('resume', 'resume needs a checkpoint folder (checkpointDir)');
  const settings = {
    seed,
    batch,
    lr,
    warmup,
    decay,
    // A cosine decay is a function of the run's length: resuming with another step count would change it.
    ...(decay === 'cosine' ? { decaySteps: steps } : {}),
    beta1,
    beta2,
    eps,
    scheduleSteps: schedule.steps,
    betaStart: schedule.betaStart,
    betaEnd: schedule.betaEnd,
    dataCount: count,
    dataHash: hashTokens(data),
    // The held-out curve of a resumed run continues the checkpoint's only on the same data and cadence.
    ...(options.test !== undefined ? { testCount: checkData(options.test.data, d, v), testHash: hashTokens(options.test.data), testEvery: checkInt('test.every', options.test.every, 1) } : {}),
  };
  const test = options.test;
  const batches = new EpochBatches(count, seed);
  const result = await trainModel({
    model: BPUNET_MODEL,
    config: { vocab: config.vocab, tuple: config.tuple, depth: config.depth, width: config.width, process: config.process },
    shapes: paramShapes(config),
    init: initBpUnet(config, createRng(seed, 0)),
    settings,
    steps,
    batch,
    lossGraph: (g, params) => bpUnetBatchLoss(g, params, config, batch),
    feeds: (step) => {
      const rng = createRng(seed, 1, step);
      const idx = batches.indices(step * batch, batch);
      const x0 = gatherRows(data, idx, d);
      const t = new Int32Array(batch);
      for (let i = 0; i < batch; i++) t[i] = 1 + rng.nextInt(schedule.steps);
      const xt = noiseTokens(config.process, x0, t, v, schedule, rng);
      return bpUnetFeeds(config, x0, xt, t, schedule);
    },
    lr: learningRate(lr, warmup, decay, steps),
    betas: [beta1, beta2],
    eps,
    threads,
    checkpointDir: options.checkpointDir,
    checkpointEvery,
    resume: options.resume ?? false,
    ...(test !== undefined
      ? { monitor: { every: test.every, measure: async (params) => (await lossOn(params, config, test.data, schedule, { tWindows: [[1, schedule.steps]], seed: TEST_LOSS_SEED, threads }))[0].loss } }
      : {}),
    onProgress: options.onProgress,
  });
  return { params: result.params, losses: result.losses, resumedFrom: result.resumedFrom, seconds: result.seconds, testLoss: result.monitor };
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
  /** onnxruntime threads (default: all cores). */
  threads?: number;
}

/** The mean loss over one time window. */
export interface WindowLoss {
  from: number;
  to: number;
  /** Mean of the D3PM loss per token over the window's draws. */
  loss: number;
  /** Noisy datums evaluated (datums × draws). */
  count: number;
}

/**
 * The loss of trained parameters on a dataset, per time window (train/test evaluation): for each
 * window [from, to], each datum n and draw k, t is uniform in from … to and x_t ~ q(x_t | x_0),
 * both from createRng(seed, 3, window, n, k); returns the mean of the per-token loss over all of
 * them (per-datum sums from the graph, averaged in float64). The draws do not depend on the batch size.
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
  const threads = checkThreads(options.threads ?? defaultThreads());
  const shapes = paramShapes(config);
  for (const [name, shape] of shapes) {
    const p = params[name];
    if (!p) throw new ParamError('params', `parameter ${name} is missing`);
    if (p.shape.join(',') !== shape.join(',')) throw new ParamError('params', `parameter ${name} has shape [${p.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const g = new Graph();
  const pv: Record<string, Value> = {};
  for (const [name, shape] of shapes) pv[name] = g.param(name, shape);
  const perDatum = bpUnetDatumLoss(g, pv, config, 'N');
  const inputs = g.inputs().map((x) => ({ name: x.name, tail: x.shape.slice(1) as number[] }));
  const session = await createCpuSession(g.toOnnx({ name: 'hierdiff-bpunet-loss', outputs: [['loss', perDatum]], paramData: params }), threads);
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
        const feeds = bpUnetFeeds(config, x0, xt, t, schedule);
        const res = await session.run(Object.fromEntries(inputs.map(({ name, tail }) => [name, floatTensor(feeds[name], [size, ...tail])])));
        for (const x of res.loss.data as Float32Array) sum += x;
      }
      out.push({ from, to, loss: sum / (total * d), count: total });
    }
    return out;
  } finally {
    await session.release();
  }
}

/** The convergence criterion of a training run, read from its held-out loss curve. */
export interface Convergence {
  /** The criterion in words. */
  rule: string;
  /** Mean held-out loss over the 20 % of the steps before the last 20 %, and over the last 20 %. */
  before: number;
  last: number;
  /** Relative fall (before − last) / before; negative when the loss rose. */
  relativeFall: number;
  converged: boolean;
}

/** A run has converged when its mean held-out loss fell by less than this fraction from one 20 % window of its steps to the last. */
export const CONVERGENCE_TOLERANCE = 0.01;

/**
 * The criterion: the held-out loss no longer falls over the last 20 % of the steps — its mean
 * over steps (0.8·steps, steps] is less than {@link CONVERGENCE_TOLERANCE} below its mean over
 * (0.6·steps, 0.8·steps] (or above it). Means over windows, not two single measurements: with a
 * constant learning rate one measurement can sit a few per cent off its neighbours. Null unless
 * both windows hold a measurement.
 */
export function convergence(curve: readonly MonitorPoint[], steps: number): Convergence | null {
  const mean = (a: readonly MonitorPoint[]) => a.reduce((sum, p) => sum + p.value, 0) / a.length;
  const [from, mid] = [0.6 * steps, 0.8 * steps];
  const previous = curve.filter((p) => p.step > from && p.step <= mid);
  const lastWindow = curve.filter((p) => p.step > mid && p.step <= steps);
  if (previous.length === 0 || lastWindow.length === 0) return null;
  const before = mean(previous);
  const last = mean(lastWindow);
  const relativeFall = (before - last) / before;
  const fmt = (x: number) => String(Math.round(x));
  return {
    rule: `mean held-out loss over steps ${fmt(mid)}–${steps} fell by less than ${CONVERGENCE_TOLERANCE * 100} % from its mean over steps ${fmt(from)}–${fmt(mid)} (the last 20 % of the steps against the 20 % before; ${lastWindow.length} and ${previous.length} measurements)`,
    before,
    last,
    relativeFall,
    converged: relativeFall < CONVERGENCE_TOLERANCE,
  };
}
