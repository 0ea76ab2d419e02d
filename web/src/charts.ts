/**
 * The live charts: the static report's own vega-lite specs (src/report/figures: class kept,
 * level kept, susceptibility χ) with the page's fixed x range and slider marker, compiled by the
 * report's toVegaSpec and rendered by a vega View as SVG. A chart is rebuilt when its data change
 * and only its `marker` dataset is changed when the slider moves.
 */
import { parse, View } from 'vega';
import { toVegaSpec } from '../../src/report/compile.ts';
import { classKeptFigure } from '../../src/report/figures/classKept.ts';
import { levelKeptFigure } from '../../src/report/figures/levels.ts';
import { susceptibilityFigure } from '../../src/report/figures/susceptibility.ts';
import type { TopLevelSpec } from 'vega-lite';

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

export { classKeptFigure, levelKeptFigure, susceptibilityFigure };
