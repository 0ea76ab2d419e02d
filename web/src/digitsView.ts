/**
 * The "Real digits" view: the image forward–backward experiment on the shipped MNIST models, in
 * the browser. Loaded (with its worker, onnxruntime-web and the models) only when the view first
 * opens. Pick a digit, set t/T, "Noise and denoise": K round trips (trajectories j0 … j0 + K − 1,
 * each from its own x_t, as `hierdiff images forward-backward` draws them), classified; below, the
 * class-kept and layer curves measured on the page's digits, refined in passes.
 *
 * Readiness on <html>: data-digits = loading | ready | running | done; data-digits-runs counts
 * finished runs; data-digits-run-ms (worker ms of the last run), data-digits-threads,
 * data-digits-load-ms.
 */
import { decodeDigits, type DigitsFile } from '../../src/mnist/digitsFile.ts';
import { drawStrip, markPicked, paintDigit, digitPixels, pictureFigure, probBars, tagVerdict, verdictText } from './digitsDraw.ts';
import { DigitsCharts } from './digitsCharts.ts';
import { CURVE_STEPS, DIGITS_TRAJECTORIES, stepOf } from './digitsModel.ts';
import { onGrid, MAX_DIGITS_SEED, type DigitsState } from './digitsParams.ts';
import type { DigitsReply, DigitsRequest, RunResult } from './digitsProtocol.ts';

export interface DigitsContext {
  state(): DigitsState;
  setState(next: DigitsState): void;
}

const html = document.documentElement;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The curve's noise seed: its round trips are those of `images forward-backward --seed 0 --trajectories 1`. */
const CURVE_SEED = 0;

let ctx: DigitsContext;
let worker: Worker;
let digits: DigitsFile | null = null;
let requestId = 0;
let latestRun = 0;
/** The controls the latest run was asked with (the user may move on while it runs). */
let runState: DigitsState | null = null;
let latestCurve = 0;
let runs = 0;
let charts: DigitsCharts;
const send = (r: DigitsRequest) => worker.postMessage(r);

/** Opens the view: fetches the digits, starts the worker, runs the URL's round trip and the curve. */
export async function openDigitsView(context: DigitsContext): Promise<{ setActive(active: boolean): void }> {
  ctx = context;
  html.dataset.digits = 'loading';
  charts = new DigitsCharts($('digits-class-kept-chart'), $('digits-layers-chart'));
  writeControls();
  wireControls();
  const response = await fetch(new URL('./mnist-digits.bin', document.baseURI));
  if (!response.ok) throw new Error(`mnist-digits.bin: HTTP ${response.status}`);
  digits = decodeDigits(new Uint8Array(await response.arrayBuffer()), 'mnist-digits.bin');
  drawStrip($('digit-strip'), digits, pick);
  showDigit();
  worker = new Worker(new URL('./digitsWorker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<DigitsReply>) => onReply(e.data);
  worker.onerror = (e) => status(`<span class="bad">The worker failed: ${e.message}</span>`);
  const threads = threadsFor(ctx.state().threads);
  $('digits-mode').textContent = `Loading onnxruntime-web (WebAssembly, ${threads > 1 ? `${threads} threads` : '1 thread'}) and the models…`;
  send({ type: 'init', digits, threads });
  return { setActive: (active) => send({ type: 'active', active }) };
}

/**
 * onnxruntime-web's WebAssembly threads. They need SharedArrayBuffer, so a cross-origin isolated
 * page (COOP/COEP headers). Automatic: 2 when the machine has 2 cores or more (on an idle 2-core
 * machine the curve took 49 s on two threads against 77 s on one; web/README.md, Speed), else 1.
 * `asked` (1–4) overrides: threads=1 where other work already fills the cores.
 */
function threadsFor(asked: number): number {
  if (!self.crossOriginIsolated) return 1;
  return asked || (navigator.hardwareConcurrency >= 2 ? 2 : 1);
}

/** The view's words for the runtime's mode. */
function modeText(threads: number, asked: number): string {
  if (threads > 1) return `${threads} threads (the page is cross-origin isolated)`;
  if (!self.crossOriginIsolated) return '1 thread (the page is not cross-origin isolated, so no WebAssembly threads)';
  if (asked === 1) return '1 thread (threads=1 in the address)';
  return `1 thread (this machine has ${navigator.hardwareConcurrency} core: threads=2 in the address asks for two)`;
}

function status(markup: string): void {
  $('digits-status').innerHTML = markup;
}

function writeControls(): void {
  const st = ctx.state();
  ($('digit-t') as HTMLInputElement).value = st.t.toFixed(2);
  $('digit-t-value').textContent = `t/T = ${st.t.toFixed(2)} (k = ${stepOf(st.t)} of 100 steps)`;
}

function wireControls(): void {
  $('digit-t').addEventListener('input', () => {
    ctx.setState({ ...ctx.state(), t: onGrid(Number(($('digit-t') as HTMLInputElement).value)) });
    writeControls();
    markStale();
  });
  $('digit-run').addEventListener('click', () => requestRun());
  $('digit-more').addEventListener('click', () => {
    const st = ctx.state();
    ctx.setState({ ...st, j: Math.min(st.j + DIGITS_TRAJECTORIES, MAX_DIGITS_SEED - DIGITS_TRAJECTORIES) });
    requestRun();
  });
  $('digit-reseed').addEventListener('click', () => {
    const st = ctx.state();
    ctx.setState({ ...st, seed: (st.seed + 1) % (MAX_DIGITS_SEED + 1), j: 0 });
    requestRun();
  });
}

function pick(i: number): void {
  ctx.setState({ ...ctx.state(), digit: i });
  showDigit();
  markStale();
}

/** The picked digit in the strip and as the original (before any run). */
function showDigit(): void {
  if (!digits) return;
  const i = ctx.state().digit;
  markPicked($('digit-strip'), i);
  const canvas = $('digit-original') as HTMLCanvasElement;
  paintDigit(canvas, digitPixels(digits, i));
  canvas.dataset.label = String(digits.labels[i]);
  canvas.dataset.index = String(i);
  // The verdict comes with the digit's next run.
  for (const key of ['class', 'prob', 'probs', 'pixelChange']) delete canvas.dataset[key];
  $('digit-original-caption').textContent = `original (label ${digits.labels[i]})`;
}

/** Results no longer show the controls: dimmed until the next run. */
function markStale(): void {
  $('digits-result').classList.add('stale');
  if (html.dataset.digits === 'done') status('Press <strong>Noise and denoise</strong> to run with these settings.');
}

function requestRun(): void {
  if (!digits) return;
  const st = ctx.state();
  latestRun = ++requestId;
  runState = st;
  html.dataset.digits = 'running';
  status(`Noising to t/T = ${st.t.toFixed(2)} and denoising ${DIGITS_TRAJECTORIES} times…`);
  send({ type: 'run', id: latestRun, digit: st.digit, step: stepOf(st.t), seed: st.seed, first: st.j, count: DIGITS_TRAJECTORIES });
}

function requestCurve(): void {
  latestCurve = ++requestId;
  if (ctx.state().curvePerClass === 0) {
    charts.off();
    return;
  }
  charts.reset();
  send({ type: 'curve', id: latestCurve, seed: CURVE_SEED, steps: [...CURVE_STEPS], perPass: 1, perClass: ctx.state().curvePerClass });
}

function onReply(r: DigitsReply): void {
  if (r.type === 'ready') {
    html.dataset.digitsThreads = String(r.threads);
    html.dataset.digitsLoadMs = String(Math.round(r.ms));
    const mode = modeText(r.threads, ctx.state().threads);
    $('digits-mode').textContent = `onnxruntime-web ${r.version}, WebAssembly backend, ${mode}; runtime and models loaded in ${(r.ms / 1000).toFixed(1)} s.`;
    html.dataset.digits = 'ready';
    requestRun();
    requestCurve();
  } else if (r.type === 'progress') {
    if (r.id === latestRun) status(`Denoising: ${r.done} of ${r.total} reverse steps (${DIGITS_TRAJECTORIES} chains side by side)…`);
  } else if (r.type === 'run') {
    if (r.id !== latestRun) return;
    drawRun(r, runState!);
    html.dataset.digitsRunMs = String(Math.round(r.ms));
    html.dataset.digitsRuns = String(++runs);
    html.dataset.digits = 'done';
  } else if (r.type === 'curve') {
    if (r.id === latestCurve) charts.update(r, ctx.state().curvePerClass * 10);
  } else if (r.job === 'curve') {
    if (r.id === latestCurve) charts.fail(r.message);
  } else {
    status(`<span class="bad">${r.job === 'init' ? 'Could not load the runtime or the models' : 'The run failed'}: ${r.message}</span>`);
    if (r.job === 'init') $('digits-mode').textContent = 'onnxruntime-web could not start.';
    html.dataset.digits = r.job === 'init' ? 'loading' : 'done';
  }
}

/** One run's pictures: the original with its verdict, then each trajectory's x_t and reconstruction. */
function drawRun(r: RunResult, st: DigitsState): void {
  const [original, ...generated] = r.verdicts;
  const now = ctx.state();
  const origCanvas = $('digit-original') as HTMLCanvasElement;
  if (now.digit === st.digit) {
    tagVerdict(origCanvas, original);
    const caption = `original (label ${digits!.labels[st.digit]})<br>classified <strong>${verdictText(original)}</strong>`;
    $('digit-original-caption').innerHTML = caption + probBars(original.probs, original.top1);
  }
  const box = $('digit-trajectories');
  box.replaceChildren();
  let same = 0;
  generated.forEach((v, j) => {
    const col = document.createElement('div');
    col.className = 'trajectory';
    const traj = st.j + j;
    const noised = pictureFigure(col, 'noised', j === 0 ? 'digit-noised' : null, r.noised[j], `x<sub>t</sub> #${traj}`);
    noised.dataset.trajectory = String(traj);
    const kept = v.top1 === original.top1;
    if (kept) same++;
    const caption = `<strong class="${kept ? 'kept' : 'changed'}">${verdictText(v)}</strong>${probBars(v.probs, v.top1)}<span class="delta">mean |Δx| = ${v.pixelChange.toFixed(3)}</span>`;
    const canvas = pictureFigure(col, 'denoised', 'digit-denoised', r.generated[j], caption);
    canvas.dataset.trajectory = String(traj);
    tagVerdict(canvas, v);
    box.append(col);
  });
  // Still the controls' result, unless they moved while it ran.
  $('digits-result').classList.toggle('stale', now.digit !== st.digit || now.t !== st.t || now.seed !== st.seed || now.j !== st.j);
  status(
    `t/T = ${st.t.toFixed(2)}, seed ${st.seed}, trajectories ${st.j}–${st.j + DIGITS_TRAJECTORIES - 1}: <strong>${same} of ${generated.length}</strong> reconstructions keep the class (${(r.ms / 1000).toFixed(1)} s).`,
  );
}
