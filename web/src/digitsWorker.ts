/// <reference lib="webworker" />
/**
 * The digits view's computations, off the main thread: the image forward–backward experiment of
 * `hierdiff images forward-backward` on the shipped MNIST models (src/images/experiment/roundTrip.ts
 * with onnxruntime-web, digitsRuntime.ts), on the page's 100 held-out digits.
 *
 * Two jobs. A `run` (one digit's K round trips) goes ahead of everything: its model calls jump the
 * queue, the curve job waits while it runs, and a newer run cancels it. The curve job runs passes
 * over the steps t/T = 0.1 … 1.0, each pass adding `perPass` digits per class at every step (their
 * chains side by side in one model call), and posts the pooled rows (summariseImages) after every
 * step; it pauses while the view is hidden.
 */
import { fromUint8, toUint8 } from '../../src/images/io/pixels.ts';
import { LayerStatsAccumulator, type ClassifierStats } from '../../src/images/experiment/layerStats.ts';
import { judge, roundTrips, type DenoiseFn } from '../../src/images/experiment/roundTrip.ts';
import type { DigitsFile } from '../../src/mnist/digitsFile.ts';
import { curveRows, curveUnit, type CurveUnit } from './digitsCurve.ts';
import { DIGITS_CHANNELS, DIGITS_SIZE, digitsSettings } from './digitsModel.ts';
import type { CurveRequest, DigitsReply, DigitsRequest, InitRequest, RunRequest } from './digitsProtocol.ts';
import { loadDigitsModels, type DigitsModels } from './digitsRuntime.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (reply: DigitsReply, transfer: Transferable[] = []) => scope.postMessage(reply, transfer);

/** Priorities of model calls: the interactive run first. */
const RUN = 2;
const CURVE = 1;

class Cancelled extends Error {}

let models: DigitsModels | null = null;
let digits: DigitsFile | null = null;
let stats: ClassifierStats | null = null;
let ready: Promise<void> | null = null;

const PER = DIGITS_CHANNELS * DIGITS_SIZE * DIGITS_SIZE;
/** Digit i as the engine's x0 (CHW in [−1, 1]), read as the CLI reads its PNG. */
const imageOf = (d: DigitsFile, i: number) => fromUint8(d.pixels.subarray(i * PER, (i + 1) * PER), DIGITS_SIZE, DIGITS_SIZE, DIGITS_CHANNELS);

/**
 * Whitening statistics as the CLI computes them on its run's clean images: every digit's
 * classifier input (the identity preset of its uint8 pixels), accumulated per probed layer.
 */
async function computeStats(m: DigitsModels, d: DigitsFile): Promise<ClassifierStats> {
  const input = new Float32Array(d.count * PER);
  for (let i = 0; i < d.count; i++) input.set(fromUint8(toUint8(imageOf(d, i), DIGITS_CHANNELS), DIGITS_SIZE, DIGITS_SIZE, DIGITS_CHANNELS), i * PER);
  const out = await m.classify(RUN)(input, d.count);
  const layers = out.layers.map((l, j) => {
    const acc = new LayerStatsAccumulator(m.layers[j]);
    acc.add(l.data, l.shape);
    return acc.result();
  });
  return { format: 'hierdiff.image-stats/1', images: d.count, layers };
}

async function init(r: InitRequest): Promise<void> {
  const t0 = performance.now();
  digits = r.digits;
  models = await loadDigitsModels(r.threads);
  stats = await computeStats(models, digits);
  post({ type: 'ready', threads: models.threads, version: models.version, ms: performance.now() - t0 });
}

// ---- the interactive run ----

let latestRun = 0;
let runsActive = 0;
const runWaiters: (() => void)[] = [];

async function run(r: RunRequest): Promise<void> {
  latestRun = r.id;
  runsActive++;
  try {
    await ready;
    const m = models!;
    const d = digits!;
    const t0 = performance.now();
    const base = m.denoise(RUN);
    const denoise: DenoiseFn = (x, n, t) => {
      if (latestRun !== r.id) throw new Cancelled();
      return base(x, n, t);
    };
    const x0 = imageOf(d, r.digit);
    const starts = Array.from({ length: r.count }, (_, j) => ({ x0, image: r.digit, trajectory: r.first + j }));
    const settings = digitsSettings(r.seed, r.count);
    const trips = await roundTrips(settings, starts, r.step, denoise, (done, total) => post({ type: 'progress', id: r.id, done, total }));
    if (latestRun !== r.id) return;
    const verdicts = await judge(x0, trips.generated, DIGITS_CHANNELS, DIGITS_SIZE, m.classify(RUN), stats!);
    const noised = trips.noised.map((x) => toUint8(x, DIGITS_CHANNELS));
    const generated = trips.generated.map((x) => toUint8(x, DIGITS_CHANNELS));
    post({ type: 'run', id: r.id, ms: performance.now() - t0, noised, generated, verdicts });
  } catch (e) {
    if (!(e instanceof Cancelled)) post({ type: 'error', id: r.id, job: 'run', message: e instanceof Error ? e.message : String(e) });
  } finally {
    runsActive--;
    if (runsActive === 0) runWaiters.splice(0).forEach((go) => go());
  }
}

// ---- the curve ----

let curveJob = 0;
let active = true;
const activeWaiters: (() => void)[] = [];

/** Resolves when no run is active and the view is shown. */
async function curveGate(): Promise<void> {
  while (runsActive > 0 || !active) {
    if (runsActive > 0) await new Promise<void>((go) => runWaiters.push(go));
    else await new Promise<void>((go) => activeWaiters.push(go));
  }
}

async function curve(r: CurveRequest): Promise<void> {
  const job = ++curveJob;
  await ready;
  const m = models!;
  const d = digits!;
  const t0 = performance.now();
  const units: CurveUnit[] = [];
  const passes = Math.ceil(r.perClass / r.perPass);
  const total = passes * r.steps.length;
  let done = 0;
  const base = m.denoise(CURVE);
  // The curve waits while a run computes or the view is hidden, between two model calls.
  const denoise: DenoiseFn = async (x, n, t) => {
    await curveGate();
    if (job !== curveJob) throw new Cancelled();
    return base(x, n, t);
  };
  const perClassShipped = d.count / 10;
  for (let pass = 0; pass < passes; pass++) {
    const picked: number[] = [];
    for (let c = 0; c < 10; c++) for (let k = pass * r.perPass; k < Math.min(r.perClass, (pass + 1) * r.perPass); k++) picked.push(c * perClassShipped + k);
    // The picked digits' first trajectories side by side, one model call per reverse step.
    const settings = digitsSettings(r.seed, picked.length);
    const starts = picked.map((i) => ({ x0: imageOf(d, i), image: i, trajectory: 0 }));
    for (const step of r.steps) {
      try {
        const trips = await roundTrips(settings, starts, step, denoise);
        for (let p = 0; p < picked.length; p++) {
          await curveGate();
          if (job !== curveJob) return;
          const i = picked[p];
          const verdicts = await judge(starts[p].x0, [trips.generated[p]], DIGITS_CHANNELS, DIGITS_SIZE, m.classify(CURVE), stats!);
          units.push(curveUnit(i, d.labels[i], step, verdicts));
        }
      } catch (e) {
        if (e instanceof Cancelled) return;
        throw e;
      }
      done++;
      post({ type: 'curve', id: r.id, ...curveRows(r.steps, stats!, units), done, total, finished: done === total, ms: performance.now() - t0 });
    }
  }
}

scope.onmessage = (event: MessageEvent<DigitsRequest>) => {
  const r = event.data;
  if (r.type === 'init') {
    ready = init(r);
    ready.catch((e: unknown) => post({ type: 'error', id: 0, job: 'init', message: e instanceof Error ? e.message : String(e) }));
  } else if (r.type === 'run') void run(r);
  else if (r.type === 'active') {
    active = r.active;
    if (active) activeWaiters.splice(0).forEach((go) => go());
  } else curve(r).catch((e: unknown) => post({ type: 'error', id: r.id, job: 'curve', message: e instanceof Error ? e.message : String(e) }));
};
