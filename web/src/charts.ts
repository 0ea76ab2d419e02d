/**
 * The live charts: the static report's own vega-lite specs (src/report/figures: class kept,
 * level kept, susceptibility χ) with the page's fixed x range and slider marker, compiled by the
 * report's toVegaSpec and rendered by a vega View as SVG. A chart is rebuilt when its data change
 * and only its `marker` dataset is changed when the slider moves. {@link CurveCharts} keeps the RHM
 * view's three charts in step with the curves the worker streams, without starving the datum view.
 */
import { parse, View } from 'vega';
import { toVegaSpec } from '../../src/report/compile.ts';
import { classKeptFigure } from '../../src/report/figures/classKept.ts';
import { levelKeptFigure } from '../../src/report/figures/levels.ts';
import { susceptibilityFigure } from '../../src/report/figures/susceptibility.ts';
import type { TopLevelSpec } from 'vega-lite';
import type { CurvesProgress } from './protocol.ts';

export class LiveChart {
  private view: View | null = null;
  private pending: Promise<void> = Promise.resolve();
  private marker: number;
  private readonly container: HTMLElement;

  constructor(container: HTMLElement, marker: number) {
    this.container = container;
    this.marker = marker;
  }

  /** Draws a new spec (its marker layer is kept in step with {@link setMarker}). */
  render(spec: TopLevelSpec): Promise<void> {
    this.pending = this.pending
      .catch(() => undefined)
      .then(async () => {
        const old = this.view;
        const view = new View(parse(toVegaSpec(spec)), { renderer: 'svg', container: this.container, hover: true });
        this.view = view;
        old?.finalize();
        await view.runAsync();
        // The spec was built with the marker of its time; the slider may have moved since.
        await this.applyMarker();
      });
    return this.pending;
  }

  /** Moves the slider marker without rebuilding the chart. */
  setMarker(x: number): Promise<void> {
    this.marker = x;
    this.pending = this.pending.catch(() => undefined).then(() => this.applyMarker());
    return this.pending;
  }

  private async applyMarker(): Promise<void> {
    const view = this.view;
    if (!view) return;
    try {
      view.data('marker', [{ x: this.marker }]);
      await view.runAsync();
    } catch {
      // A chart without a marker layer (no data yet) has no such dataset.
    }
  }
}

export type ChartName = 'classKept' | 'levels' | 'chi';
const CHART_NAMES: readonly ChartName[] = ['classKept', 'levels', 'chi'];
/** The spec of one chart for a curves snapshot (the page knows its controls). */
export type ChartSpecOf = (name: ChartName, p: CurvesProgress) => TopLevelSpec;

/** Charts are redrawn at most this often while data arrive (a redraw costs the main thread tens of ms). */
const RENDER_EVERY_MS = 700;
/** ... and not while the slider is moving, so the datum view keeps up with it. */
const QUIET_AFTER_SLIDER_MS = 300;
/** Charts off screen are still redrawn this often (a screenshot of the whole page stays current). */
const OFFSCREEN_EVERY_MS = 2500;

const nextTask = () => new Promise<void>((resolve) => window.setTimeout(resolve, 0));

/**
 * The class-kept, level-kept and χ charts fed by a stream of curve snapshots: redrawn at most every
 * {@link RENDER_EVERY_MS}, never while the slider moves, only the charts on screen while data arrive
 * (the others when they scroll into view, or every {@link OFFSCREEN_EVERY_MS}), every chart at the
 * first snapshot of a job and at its final one.
 */
export class CurveCharts {
  private readonly charts: Record<ChartName, LiveChart>;
  private readonly visible = new Set<ChartName>();
  private readonly dirty = new Set<ChartName>();
  /** The curves job each chart last showed: every chart is drawn at least once per job, on screen or not. */
  private readonly drawnForJob = new Map<ChartName, number>();
  private readonly drawnAt = new Map<ChartName, number>();
  private latest: CurvesProgress | null = null;
  private generation = 0;
  private timer: number | null = null;
  private firstDrawn = -1;
  private lastRender = 0;
  private lastSlider = -Infinity;

  constructor(
    elements: Record<ChartName, HTMLElement>,
    marker: number,
    private readonly specOf: ChartSpecOf,
  ) {
    this.charts = { classKept: new LiveChart(elements.classKept, marker), levels: new LiveChart(elements.levels, marker), chi: new LiveChart(elements.chi, marker) };
    const observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const name = CHART_NAMES.find((n) => elements[n] === e.target);
        if (!name) continue;
        if (!e.isIntersecting) this.visible.delete(name);
        else {
          this.visible.add(name);
          if (this.dirty.has(name) && this.latest) {
            this.dirty.delete(name);
            void this.charts[name].render(this.specOf(name, this.latest));
          }
        }
      }
    });
    for (const name of CHART_NAMES) observer.observe(elements[name]);
  }

  /** A new curves job starts: nothing to show until its first snapshot. */
  reset(): void {
    this.latest = null;
  }

  /** A snapshot of a running job: drawn at the next allowed moment. */
  progress(p: CurvesProgress): void {
    this.latest = p;
    this.schedule();
  }

  /** The job's final snapshot: every chart drawn now; resolves once they are (or a newer render took over). */
  finish(p: CurvesProgress): Promise<void> {
    this.latest = p;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    this.lastRender = performance.now();
    return this.render(p, true);
  }

  /** The slider moved: redraws wait until it has been still for a moment. */
  sliderMoved(): void {
    this.lastSlider = performance.now();
  }

  setMarker(x: number): void {
    for (const c of Object.values(this.charts)) void c.setMarker(x);
  }

  /** Redraws one chart from the current snapshot (its own controls changed). */
  redraw(name: ChartName): void {
    if (this.latest) void this.charts[name].render(this.specOf(name, this.latest));
  }

  private schedule(): void {
    if (this.timer !== null) return;
    const now = performance.now();
    const wait = Math.max(0, RENDER_EVERY_MS - (now - this.lastRender), QUIET_AFTER_SLIDER_MS - (now - this.lastSlider));
    this.timer = window.setTimeout(() => {
      this.timer = null;
      if (performance.now() - this.lastSlider < QUIET_AFTER_SLIDER_MS) return this.schedule();
      this.lastRender = performance.now();
      const p = this.latest;
      if (!p) return;
      // The first look of a job draws every chart (axes and first points); later ones only those on screen.
      const first = p.id !== this.firstDrawn;
      this.firstDrawn = p.id;
      void this.render(p, first);
    }, wait);
  }

  /** Redraws the charts one at a time, yielding between them so a datum reply is never stuck behind all three. */
  private async render(p: CurvesProgress, all: boolean): Promise<void> {
    const generation = ++this.generation;
    for (const name of CHART_NAMES) {
      const recent = performance.now() - (this.drawnAt.get(name) ?? -Infinity) < OFFSCREEN_EVERY_MS;
      if (!all && !this.visible.has(name) && this.drawnForJob.get(name) === p.id && recent) {
        this.dirty.add(name);
        continue;
      }
      // Never start a redraw while the slider moves: the datum view comes first.
      while (performance.now() - this.lastSlider < QUIET_AFTER_SLIDER_MS) await new Promise((res) => window.setTimeout(res, 60));
      if (generation !== this.generation) return;
      this.dirty.delete(name);
      this.drawnForJob.set(name, p.id);
      this.drawnAt.set(name, performance.now());
      await this.charts[name].render(this.specOf(name, p));
      await nextTask();
      if (generation !== this.generation) return;
    }
  }
}

export { classKeptFigure, levelKeptFigure, susceptibilityFigure };
