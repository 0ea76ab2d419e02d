import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs';
import { checkInt, checkNumber, ParamError } from '../../core/errors.ts';
import type { NamedParams } from '../imageUnet.ts';
import { Adam } from './adam.ts';
import { initTf, type Tf, type TfBackend } from './backend.ts';
import { hasImageCheckpoint, readImageCheckpoint, writeImageCheckpoint } from './imageCheckpoint.ts';

/** One step's work, built by the caller from the step number (so that a resumed run draws the same). */
export interface StepBatch {
  /** Input tensors the loss reads; disposed after the step. */
  inputs: Tensor[];
  /** The batch loss of the current variables. */
  loss: (vars: Record<string, Variable>) => Scalar;
}

export interface ImageTrainProgress {
  step: number;
  steps: number;
  loss: number;
  stepsPerSecond: number;
}

export interface ImageTrainOptions {
  /** What is trained (recorded in checkpoints, checked on resume). */
  model: string;
  /** The model config (recorded, checked on resume). */
  config: unknown;
  /** Parameter names and shapes, in checkpoint order. */
  shapes: [string, number[]][];
  /** Initial parameters (ignored when resuming from a checkpoint). */
  init: NamedParams;
  /** Settings a resumed run must share with the checkpoint (seed, batch, lr, data, …). */
  settings: Record<string, number | string>;
  steps: number;
  /** Adam learning rate. */
  lr: number;
  /** Decay of the exponential moving average of the weights (0: none); warmed up as min(decay, (1 + k)/(10 + k)). */
  emaDecay: number;
  /** Builds step k's batch (k = 0 … steps − 1). */
  batch: (tf: Tf, step: number) => StepBatch;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  onProgress?: (p: ImageTrainProgress) => void;
  backend?: TfBackend;
}

export interface ImageTrainResult {
  params: NamedParams;
  /** The moving average of the weights (equal to `params` when emaDecay is 0). */
  ema: NamedParams;
  losses: number[];
  resumedFrom: number;
  /** Training seconds, summed over resumed runs. */
  seconds: number;
}

/**
 * Adam (PyTorch's rule, β 0.9/0.999, ε 1e−8) on the caller's loss, with an EMA of the weights and
 * resumable checkpoints: everything random is a function of the step number (the caller's `batch`),
 * and tfjs-wasm is deterministic on one thread, so a resumed run ends where an uninterrupted one
 * would.
 */
export async function trainImageModel(o: ImageTrainOptions): Promise<ImageTrainResult> {
  const steps = checkInt('steps', o.steps, 0, 1e9);
  const lr = checkNumber('lr', o.lr, 0, 10);
  const emaDecay = checkNumber('emaDecay', o.emaDecay, 0, 1);
  const every = checkInt('checkpointEvery', o.checkpointEvery ?? 100, 1);
  const names = o.shapes.map(([n]) => n);
  const dir = o.checkpointDir;
  if (o.resume && dir === undefined) throw new ParamError('resume', 'resume needs a checkpoint folder');

  let start = 0;
  let losses: number[] = [];
  let seconds = 0;
  let params = o.init;
  let ema = o.init;
  let moments: { m: NamedParams; v: NamedParams } | null = null;
  if (o.resume && dir !== undefined && hasImageCheckpoint(dir)) {
    const ck = readImageCheckpoint(dir);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (ck.header.model !== o.model) throw new ParamError('resume', `cannot resume: the checkpoint trains ${ck.header.model}, this run ${o.model}`);
    if (!same(ck.header.config, o.config)) throw new ParamError('resume', 'cannot resume: the checkpoint has another model config');
    for (const k of new Set([...Object.keys(ck.header.settings), ...Object.keys(o.settings)])) {
      if (ck.header.settings[k] !== o.settings[k]) throw new ParamError('resume', `cannot resume: the checkpoint has ${k} ${String(ck.header.settings[k])}, this run ${String(o.settings[k])}`);
    }
    if (ck.header.step > steps) throw new ParamError('steps', `the checkpoint is at step ${ck.header.step}, beyond steps ${steps}`);
    start = ck.header.step;
    losses = ck.header.losses.slice();
    seconds = ck.header.seconds;
    params = ck.params;
    ema = ck.ema;
    moments = { m: ck.adamM, v: ck.adamV };
  }

  const tf = await initTf(o.backend ?? 'wasm');
  const vars: Record<string, Variable> = {};
  const shadow: Record<string, Variable> = {};
  for (const [name, shape] of o.shapes) {
    const p = params[name];
    const e = ema[name];
    if (!p || !e || p.data.length !== shape.reduce((a, b) => a * b, 1)) throw new ParamError('params', `parameter ${name} is missing or of the wrong size`);
    // tf.variable copies its initial tensor: dispose those.
    vars[name] = tf.tidy(() => tf.variable(tf.tensor(p.data, shape, 'float32'), true));
    shadow[name] = tf.tidy(() => tf.variable(tf.tensor(e.data, shape, 'float32'), false));
  }
  const adam = new Adam(tf, vars, names, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, start, moments);
  const read = (group: Record<string, Variable>): NamedParams =>
    Object.fromEntries(o.shapes.map(([name, shape]) => [name, { shape: [...shape], data: new Float32Array(group[name].dataSync() as Float32Array) }]));
  try {
    const t0 = performance.now();
    let lastSave = t0;
    for (let step = start; step < steps; step++) {
      const b = o.batch(tf, step);
      const { value, grads } = tf.variableGrads(() => b.loss(vars), names.map((n) => vars[n]));
      for (const t of b.inputs) t.dispose();
      adam.update(grads);
      for (const g of Object.values(grads)) g.dispose();
      const loss = value.dataSync()[0] as number;
      value.dispose();
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step + 1} (loss ${loss})`);
      const k = step + 1;
      const decay = emaDecay === 0 ? 0 : Math.min(emaDecay, (1 + k) / (10 + k));
      tf.tidy(() => {
        for (const n of names) shadow[n].assign(tf.add(tf.mul(shadow[n], decay), tf.mul(vars[n], 1 - decay)));
      });
      losses.push(loss);
      const now = performance.now();
      if (dir !== undefined && (k % every === 0 || k === steps)) {
        seconds += (now - lastSave) / 1000;
        lastSave = now;
        writeImageCheckpoint(dir, names, {
          header: { model: o.model, config: o.config, settings: o.settings, step: k, losses, seconds },
          params: read(vars), adamM: adam.moments('m'), adamV: adam.moments('v'), ema: read(shadow),
        });
      }
      o.onProgress?.({ step: k, steps, loss, stepsPerSecond: (k - start) / ((now - t0) / 1000) });
    }
    if (dir === undefined) seconds += (performance.now() - t0) / 1000;
    return { params: read(vars), ema: read(shadow), losses, resumedFrom: start, seconds };
  } finally {
    adam.dispose();
    for (const v of [...Object.values(vars), ...Object.values(shadow)]) v.dispose();
  }
}
