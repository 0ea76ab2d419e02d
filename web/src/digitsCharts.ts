/**
 * The digits view's live curves: the images report's own figures (src/report/figures/images.ts:
 * class kept vs t/T, and the probed layers' cosines) drawn by charts.ts's LiveChart as the worker's
 * passes arrive (at most every 0.7 s, the last one always). The class-kept chart's container
 * carries the test hooks: data-points (t/T values with data), data-per-point (fewest digits at
 * any of them), data-state (running | done | failed) and data-ms (worker ms at the last update).
 */
import { imagesClassKeptFigure, imagesLayersFigure } from '../../src/report/figures/images.ts';
import { LiveChart } from './charts.ts';
import type { CurveProgress } from './digitsProtocol.ts';

const REDRAW_MS = 700;

export class DigitsCharts {
  private readonly classKept: LiveChart;
  private readonly layers: LiveChart;
  private latest: CurveProgress | null = null;
  private timer: number | null = null;
  private drawnAt = -Infinity;

  constructor(
    private readonly classKeptBox: HTMLElement,
    layersBox: HTMLElement,
  ) {
    this.classKept = new LiveChart(classKeptBox, 0);
    this.layers = new LiveChart(layersBox, 0);
  }

  reset(): void {
    this.latest = null;
    const box = this.classKeptBox;
    box.dataset.points = '0';
    box.dataset.perPoint = '0';
    box.dataset.state = 'running';
    delete box.dataset.ms;
    this.statusText('Starting: the first digits are on their way…');
  }

  /** No curve (curvePerClass=0 in the URL: the benchmark's runs alone). */
  off(): void {
    this.classKeptBox.dataset.state = 'off';
    this.statusText('The curve is off (curvePerClass=0 in the address).');
  }

  update(p: CurveProgress, target: number): void {
    this.latest = p;
    const box = this.classKeptBox;
    box.dataset.points = String(p.points);
    box.dataset.perPoint = String(p.perPoint);
    box.dataset.ms = String(Math.round(p.ms));
    const time = (p.ms / 1000).toFixed(0);
    const pct = Math.round((100 * p.done) / Math.max(1, p.total));
    this.statusText(
      p.finished
        ? `Done: ${p.perPoint} digits at each of ${p.points} values of t/T, in ${time} s.`
        : `Computing <span class="progress"><b style="width:${pct}%"></b></span> ${p.points} of 10 values of t/T, ${p.perPoint} of ${target} digits per value so far, ${time} s.`,
    );
    if (p.finished) {
      if (this.timer !== null) window.clearTimeout(this.timer);
      this.timer = null;
      void this.draw().then(() => {
        if (this.latest === p) box.dataset.state = 'done';
      });
      return;
    }
    if (this.timer !== null) return;
    const wait = Math.max(0, REDRAW_MS - (performance.now() - this.drawnAt));
    this.timer = window.setTimeout(() => {
      this.timer = null;
      void this.draw();
    }, wait);
  }

  fail(message: string): void {
    this.classKeptBox.dataset.state = 'failed';
    this.statusText(`<span class="bad">The curve stopped: ${message.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)}</span>`);
  }

  private async draw(): Promise<void> {
    const p = this.latest;
    if (!p || p.rows.length === 0) return;
    this.drawnAt = performance.now();
    await this.classKept.render(imagesClassKeptFigure(p.rows, { title: 'Class kept vs noise time: real digits' }));
    await this.layers.render(imagesLayersFigure(p.rows, { title: 'Hidden layers of the classifier vs noise time' }));
  }

  private statusText(markup: string): void {
    document.getElementById('digits-curve-status')!.innerHTML = markup;
  }
}
