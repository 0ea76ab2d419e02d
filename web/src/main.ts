/**
 * The explorer page's RHM view: reads the controls (and the URL), validates them, asks the worker
 * for the datum view and the curves, draws the datum view and hands the curves to charts.ts.
 *
 * Readiness for tests and the benchmark, on <html>: data-datum = busy | ready (ready once the datum
 * view shows the current controls, or their error messages); data-curves = running | done | stopped
 * (stopped: invalid controls); data-curves-ms = milliseconds from the start of the finished curve
 * computation to its end, data-curves-first-ms to the first pass over every point (the first full
 * curve); data-params = ok | invalid.
 */
import { processLabel } from '../../src/report/figures/common.ts';
import type { TopLevelSpec } from 'vega-lite';
import { type ChartName, classKeptFigure, CurveCharts, levelKeptFigure, susceptibilityFigure } from './charts.ts';
import {
  CONTROL_IDS,
  curvesKey,
  curveNoises,
  fromQuery,
  grammarParams,
  noiseHint,
  noiseRange,
  PASS_DATA,
  runnableDepths,
  toQuery,
  validateState,
  type ControlField,
  type FieldError,
  type PageState,
} from './params.ts';
import type { CurvesProgress, DatumResult, GrammarSpec, Reply, Request } from './protocol.ts';
import { cellTip, drawDatum, legendMarkup } from './tree.ts';
import { initViews, viewQuery } from './views.ts';
import type { ProcessName } from '../../src/noise/process.ts';

const html = document.documentElement;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (r: Request) => worker.postMessage(r);

let state: PageState = fromQuery(location.search);
let requestId = 0;
let latestDatum = 0;
let latestCurves = 0;
let runningCurvesKey = '';
let lastDatum: DatumResult | null = null;

/** Noise level a process starts at when it is picked (somewhere interesting). */
const PROCESS_START: Record<ProcessName, number> = { eps: 0.7, uniform: 0.4, mask: 0.5, gaussian: 0.15 };
/** Backward trajectories per datum in the curves (χ needs ≥ 2). */
const CURVE_TRAJECTORIES = 4;

const charts = new CurveCharts({ classKept: $('class-kept-chart'), levels: $('levels-chart'), chi: $('chi-chart') }, state.noise, chartSpec);

// ---- controls <-> state ----

const numberFields = ['v', 'm', 's', 'L', 'nc', 'gseed', 'dseed'] as const;

function writeControls(st: PageState): void {
  for (const f of numberFields) ($(CONTROL_IDS[f]) as HTMLInputElement).value = Number.isFinite(st[f]) ? String(st[f]) : '';
  ($(CONTROL_IDS.process) as HTMLSelectElement).value = st.process;
  ($(CONTROL_IDS.schedule) as HTMLSelectElement).value = st.schedule;
  ($(CONTROL_IDS.precision) as HTMLSelectElement).value = st.precision;
  const slider = $(CONTROL_IDS.noise) as HTMLInputElement;
  const range = noiseRange(st.process);
  slider.min = String(range.min);
  slider.max = String(range.max);
  slider.step = String(range.step);
  slider.value = String(st.noise);
  $('schedule-field').classList.toggle('inactive', st.process !== 'gaussian');
  updateNoiseText();
}

function readNumber(id: string): number {
  const text = ($(id) as HTMLInputElement).value.trim();
  return text === '' ? NaN : Number(text);
}

function readControls(): PageState {
  const st: PageState = { ...state };
  for (const f of numberFields) st[f] = readNumber(CONTROL_IDS[f]);
  st.process = ($(CONTROL_IDS.process) as HTMLSelectElement).value as PageState['process'];
  st.schedule = ($(CONTROL_IDS.schedule) as HTMLSelectElement).value as PageState['schedule'];
  st.precision = ($(CONTROL_IDS.precision) as HTMLSelectElement).value as PageState['precision'];
  st.noise = Number(($(CONTROL_IDS.noise) as HTMLInputElement).value);
  return st;
}

function noiseName(st: PageState): string {
  return st.process === 'gaussian' ? 'diffusion time t/T' : st.process === 'mask' ? 'masked fraction ε' : st.process === 'uniform' ? 'substitution probability ε' : 'noise level ε';
}

function updateNoiseText(): void {
  $('noise-label').textContent = noiseName(state);
  const v = state.noise.toFixed(state.process === 'gaussian' ? 3 : 2);
  const extra = state.process === 'gaussian' && lastDatum ? ` (ᾱ = ${lastDatum.control.toFixed(3)})` : '';
  $('noise-value').textContent = `${state.process === 'gaussian' ? 't/T' : 'ε'} = ${v}${extra}`;
  $('noise-hint').textContent = noiseHint(state.process);
}

function showErrors(errors: FieldError[]): void {
  const byField = new Map<ControlField, string>();
  for (const e of errors) byField.set(e.field, e.message);
  document.querySelectorAll<HTMLElement>('.error[data-for]').forEach((el) => {
    const field = el.dataset.for as ControlField;
    const message = byField.get(field);
    el.textContent = message ?? '';
    el.id = `error-${field}`;
    if (message) el.setAttribute('data-testid', 'param-error');
    else el.removeAttribute('data-testid');
    const input = document.getElementById(CONTROL_IDS[field]);
    if (input) {
      input.setAttribute('aria-invalid', message ? 'true' : 'false');
      if (message) input.setAttribute('aria-describedby', el.id);
      else input.removeAttribute('aria-describedby');
    }
  });
}

function shareUrl(st: PageState): string {
  const url = new URL(location.href);
  // The view's part first (empty in the RHM view, whose URLs stay as they were).
  url.search = [viewQuery(), toQuery(st)].filter((q) => q !== '').join('&');
  url.hash = '';
  return url.toString();
}

function updateUrl(): void {
  const url = shareUrl(state);
  ($('share-url') as HTMLInputElement).value = url;
  history.replaceState(null, '', url);
}

// ---- requests ----

function grammarSpec(st: PageState): GrammarSpec {
  const g = grammarParams(st);
  return { vocab: g.vocab, synonyms: g.synonyms, tuple: g.tuple, classes: g.classes, gseed: st.gseed };
}

function requestDatum(): void {
  html.dataset.datum = 'busy';
  latestDatum = ++requestId;
  send({
    type: 'datum',
    id: latestDatum,
    grammar: grammarSpec(state),
    depth: state.L,
    process: state.process,
    schedule: state.schedule,
    noise: state.noise,
    dseed: state.dseed,
    traj: state.traj,
    precision: state.precision,
  });
}

function requestCurves(): void {
  const key = curvesKey(state);
  if (key === runningCurvesKey) return;
  runningCurvesKey = key;
  const { depths, skipped } = runnableDepths(state);
  html.dataset.curves = 'running';
  delete html.dataset.curvesMs;
  delete html.dataset.curvesFirstMs;
  charts.reset();
  latestCurves = ++requestId;
  fillLevelsDepth(depths);
  skippedNote = skipped.length ? ` Depths ${skipped.join(', ')} skipped (s^L > 1024 tokens, too slow here).` : '';
  if (!depths.length) {
    html.dataset.curves = 'done';
    html.dataset.curvesMs = '0';
    $('curves-status').textContent = `No curve depth fits.${skippedNote}`;
    return;
  }
  $('curves-status').textContent = 'Starting…';
  send({
    type: 'curves',
    id: latestCurves,
    grammar: grammarSpec(state),
    depths,
    process: state.process,
    schedule: state.schedule,
    noises: curveNoises(state.process, state.curveLevels),
    data: state.curveData,
    passData: Math.min(PASS_DATA, state.curveData),
    trajectories: CURVE_TRAJECTORIES,
    precision: state.precision,
  });
}

let skippedNote = '';

function fillLevelsDepth(depths: number[]): void {
  const select = $('levels-depth') as HTMLSelectElement;
  select.innerHTML = depths.map((d) => `<option value="${d}">L = ${d}</option>`).join('');
  const want = depths.includes(state.levelsDepth) ? state.levelsDepth : depths[depths.length - 1];
  if (want !== undefined) select.value = String(want);
}

/** Applies the controls: validation, then the datum and (if their inputs changed) the curves. */
function apply(next: PageState): void {
  state = next;
  updateNoiseText();
  $('schedule-field').classList.toggle('inactive', state.process !== 'gaussian');
  updateUrl();
  const errors = validateState(state);
  showErrors(errors);
  if (errors.length) {
    html.dataset.params = 'invalid';
    send({ type: 'stop' });
    runningCurvesKey = '';
    html.dataset.curves = 'stopped';
    $('datum-status').innerHTML = '<span class="bad">Fix the highlighted parameter to compute (nothing is computed meanwhile).</span>';
    $('curves-status').innerHTML = '<span class="bad">Stopped: the parameters are invalid.</span>';
    $('datum-view').querySelector('svg')?.classList.add('stale');
    latestDatum = ++requestId;
    html.dataset.datum = 'ready';
    return;
  }
  html.dataset.params = 'ok';
  requestDatum();
  requestCurves();
  setMarkers();
}

function setMarkers(): void {
  $('class-kept-chart').dataset.marker = String(state.noise);
  charts.setMarker(state.noise);
}

// ---- drawing ----

function datumWidth(leaves: number): number {
  const box = $('datum-view').clientWidth || 800;
  const zoom = ($('zoom') as HTMLInputElement).checked;
  return zoom ? Math.max(box - 2, leaves * 18) : Math.max(box - 2, 240);
}

function drawDatumView(d: DatumResult): void {
  const s = state.s;
  const L = d.truth.length - 1;
  const { svg } = drawDatum(d, { s, v: state.v, classes: state.nc, width: datumWidth(s ** L), processLabel: processLabel(state.process) });
  $('datum-view').innerHTML = svg;
  $('legend').innerHTML = legendMarkup(state.v, state.nc, state.process === 'mask');
  const c = d.truth[0][0];
  const cHat = d.posterior[0][0];
  const leaves = d.truth[L].length;
  let kept = 0;
  for (let i = 0; i < leaves; i++) if (d.truth[L][i] === d.posterior[L][i]) kept++;
  const p0 = d.classPosterior[c];
  $('datum-status').innerHTML =
    `Class ${c} → sampled class ${cHat}: <strong>${cHat === c ? 'kept' : 'changed'}</strong> ` + `(exact probability of keeping it: μ₀ = ${p0.toFixed(3)}). Tokens kept: ${kept} of ${leaves}.`;
}

/** The spec of one chart for a curves snapshot (the report's figure, with the page's x range and marker). */
function chartSpec(name: ChartName, p: CurvesProgress): TopLevelSpec {
  const range = noiseRange(state.process);
  const common = { process: state.process, xDomain: [range.min, range.max] as [number, number], marker: state.noise, scheduleName: state.schedule };
  const critical = p.critical !== null ? { critical: { label: 'mean-field ε*', value: p.critical } } : {};
  if (name === 'classKept') return classKeptFigure(p.rows, { ...common, theory: { label: p.theoryLabel, points: p.theory }, ...critical, title: 'Class kept vs noise' });
  if (name === 'levels') {
    const depth = Number(($('levels-depth') as HTMLSelectElement).value);
    return levelKeptFigure(p.rows, { ...common, depth, theory: { label: p.levelTheoryLabel, points: p.levelTheory.filter((t) => t.depth === depth) } });
  }
  return susceptibilityFigure(p.rows, { ...common, ...critical });
}

function curvesStatus(p: CurvesProgress): void {
  const pct = Math.round((100 * p.done) / Math.max(1, p.total));
  const depths = runnableDepths(state).depths.join(', ');
  const time = (p.ms / 1000).toFixed(1);
  $('curves-status').innerHTML = p.finished
    ? `Done: L = ${depths}, ${state.curveLevels} noise levels, ${p.dataPerPoint} data per point, in ${time} s.${skippedNote}`
    : `Computing: L = ${depths}, ${state.curveLevels} noise levels <span class="progress"><b style="width:${pct}%"></b></span> ${p.dataPerPoint} of ${state.curveData} data per point so far, ${time} s.${skippedNote}`;
}

worker.onmessage = (event: MessageEvent<Reply>) => {
  const r = event.data;
  if (r.type === 'datum') {
    if (r.id !== latestDatum) return;
    lastDatum = r;
    const t = performance.now();
    drawDatumView(r);
    html.dataset.datumMs = `${r.ms.toFixed(1)}+${(performance.now() - t).toFixed(1)}`;
    updateNoiseText();
    html.dataset.datum = 'ready';
    return;
  }
  if (r.type === 'curves') {
    if (r.id !== latestCurves) return;
    curvesStatus(r);
    // The first full curve: every point has its first pass of data.
    if (r.dataPerPoint > 0 && html.dataset.curvesFirstMs === undefined) html.dataset.curvesFirstMs = String(Math.round(r.ms));
    if (r.finished) {
      html.dataset.curvesMs = String(Math.round(r.ms));
      // 'done' once the final charts are drawn (the time measured is the computation's, above).
      void charts.finish(r).then(() => {
        if (r.id === latestCurves) html.dataset.curves = 'done';
      });
    } else charts.progress(r);
    return;
  }
  if (r.job === 'datum' && r.id === latestDatum) {
    $('datum-status').innerHTML = `<span class="bad">${escapeHtml(r.message)}</span>`;
    html.dataset.datum = 'ready';
  } else if (r.job === 'curves' && r.id === latestCurves) {
    $('curves-status').innerHTML = `<span class="bad">${escapeHtml(r.message)}</span>`;
    html.dataset.curves = 'done';
  }
};

worker.onerror = (e) => {
  $('curves-status').innerHTML = `<span class="bad">The worker failed: ${escapeHtml(e.message)}</span>`;
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

// ---- events ----

for (const f of [...numberFields]) $(CONTROL_IDS[f]).addEventListener('input', () => apply(readControls()));
$(CONTROL_IDS.schedule).addEventListener('change', () => apply(readControls()));
$(CONTROL_IDS.precision).addEventListener('change', () => apply(readControls()));
$(CONTROL_IDS.process).addEventListener('change', () => {
  const next = readControls();
  next.noise = PROCESS_START[next.process];
  state = next;
  writeControls(next);
  apply(next);
});
$(CONTROL_IDS.noise).addEventListener('input', () => {
  charts.sliderMoved();
  const next = { ...state, noise: Number(($(CONTROL_IDS.noise) as HTMLInputElement).value) };
  state = next;
  updateNoiseText();
  updateUrl();
  if (validateState(state).length) return;
  requestDatum();
  setMarkers();
});
$('resample').addEventListener('click', () => apply({ ...state, traj: state.traj + 1 }));
$('next-datum').addEventListener('click', () => {
  if (!Number.isInteger(state.dseed)) return;
  const next = { ...state, dseed: Math.min(state.dseed + 1, 2 ** 31 - 1), traj: 0 };
  ($(CONTROL_IDS.dseed) as HTMLInputElement).value = String(next.dseed);
  apply(next);
});
$('levels-depth').addEventListener('change', () => {
  state = { ...state, levelsDepth: Number(($('levels-depth') as HTMLSelectElement).value) };
  updateUrl();
  charts.redraw('levels');
});
$('zoom').addEventListener('change', () => lastDatum && drawDatumView(lastDatum));
$('copy-share').addEventListener('click', () => {
  const input = $('share-url') as HTMLInputElement;
  input.select();
  void navigator.clipboard?.writeText(input.value).catch(() => undefined);
});
$('controls').addEventListener('submit', (e) => e.preventDefault());

// One tooltip for every cell of the datum view, written from the cell's data attributes.
const tip = document.createElement('div');
tip.className = 'tip';
tip.hidden = true;
document.body.append(tip);
$('datum-view').addEventListener('pointermove', (e) => {
  const cell = (e.target as Element).closest?.('rect.node');
  if (!(cell instanceof SVGElement) || !lastDatum) {
    tip.hidden = true;
    return;
  }
  tip.textContent = cellTip(cell.dataset, lastDatum.truth.length - 1);
  tip.hidden = false;
  const x = Math.min(e.clientX + 12, window.innerWidth - tip.offsetWidth - 8);
  tip.style.left = `${Math.max(4, x) + window.scrollX}px`;
  tip.style.top = `${e.clientY + 16 + window.scrollY}px`;
});
$('datum-view').addEventListener('pointerleave', () => (tip.hidden = true));

let resizeTimer: number | null = null;
new ResizeObserver(() => {
  if (resizeTimer !== null) window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => lastDatum && drawDatumView(lastDatum), 120);
}).observe($('datum-view'));

writeControls(state);
// The RHM view computes only while it is shown: the digits view needs both cores.
initViews({
  updateUrl,
  showRhm: (shown) => {
    if (shown) apply(state);
    else {
      send({ type: 'stop' });
      runningCurvesKey = '';
      html.dataset.curves = 'stopped';
    }
  },
});
