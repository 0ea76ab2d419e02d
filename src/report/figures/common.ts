import type { TopLevelSpec } from 'vega-lite';
import type { ProcessName } from '../../noise/process.ts';
import { FONT_FAMILY } from './font.ts';

/** The vega-lite schema every figure declares. */
export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Plot area of every figure, in SVG pixels (the PNG is rendered at 2×). */
export const WIDTH = 440;
export const HEIGHT = 300;

/** A curve predicted by a theory at one depth: value(noise). */
export interface CurvePoint {
  depth: number;
  noise: number;
  value: number;
}

/** A predicted curve family with the name it carries in the legend. */
export interface TheoryCurves {
  /** Legend text, e.g. "mean-field theory". */
  label: string;
  points: readonly CurvePoint[];
}

/** A predicted critical noise level, drawn as a vertical dotted rule with its legend text. */
export interface CriticalMark {
  label: string;
  value: number;
}

/** Shared look: one font (loaded from a file when rasterised), readable sizes, no chart border. */
export function baseConfig(): NonNullable<TopLevelSpec['config']> {
  return {
    font: FONT_FAMILY,
    view: { stroke: '#bbb' },
    axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', grid: true, gridColor: '#eee' },
    legend: {
      labelFontSize: 11,
      titleFontSize: 12,
      titleFontWeight: 'normal',
      fillColor: 'rgba(255,255,255,0.85)',
      padding: 6,
      cornerRadius: 3,
      strokeColor: '#ddd',
      offset: 8,
      labelLimit: 360,
      symbolStrokeWidth: 2,
    },
    title: { fontSize: 14, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555' },
  };
}

/** Axis title of the noise level of each process (symbol and unit). */
export function noiseAxisTitle(process: ProcessName, scheduleName = 'linear'): string {
  switch (process) {
    case 'eps':
      return 'noise level ε (ε-process)';
    case 'mask':
      return 'masked fraction ε';
    case 'uniform':
      return 'substitution probability ε = 1 − ᾱ';
    case 'gaussian':
      return `diffusion time t/T (Gaussian on one-hot, ${scheduleName} schedule)`;
  }
}

/** Short human name of a process. */
export function processLabel(process: ProcessName): string {
  switch (process) {
    case 'eps':
      return 'ε-process';
    case 'mask':
      return 'masking';
    case 'uniform':
      return 'uniform substitution';
    case 'gaussian':
      return 'Gaussian diffusion';
  }
}

/** Symbol of a process's noise coordinate, for titles and the collapse axis. */
export function noiseSymbol(process: ProcessName): string {
  return process === 'gaussian' ? 't/T' : 'ε';
}

/** Min and max of a list (for explicit, unpadded axis domains). */
export function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of values) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

/** Keeps x in [0, 1]: probabilities ± one standard error stay probabilities. */
export function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/**
 * Colour of depth L, the same in every figure whichever subset of depths it shows: viridis at
 * 0.82·(1 − L/10), so deeper (sharper) curves are darker; the pale yellow end is never used.
 */
export function depthColorScale(depths: readonly number[]): { domain: number[]; range: string[] } {
  const sorted = [...new Set(depths)].sort((a, b) => a - b);
  return { domain: sorted, range: sorted.map((L) => viridis(0.82 * (1 - Math.min(10, L) / 10))) };
}

const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
const PLASMA = ['#0d0887', '#4c02a1', '#7e03a8', '#a92395', '#cc4778', '#e56b5d', '#f89441', '#fdc328', '#f0f921'];

/** Viridis at t ∈ [0, 1] (piecewise-linear through 9 reference colours). */
export function viridis(t: number): string {
  return interpolate(VIRIDIS, t);
}

/** Plasma at t ∈ [0, 1] (piecewise-linear through 9 reference colours). */
export function plasma(t: number): string {
  return interpolate(PLASMA, t);
}

function interpolate(stops: readonly string[], t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = hex(stops[i]);
  const b = hex(stops[i + 1]);
  return `#${a
    .map((c, k) =>
      Math.round(c + (b[k] - c) * f)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

function hex(c: string): number[] {
  return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
}

/** Dash patterns of the source legend: data solid, theory dashed, critical point dotted. */
export const DASH = { data: [1, 0], theory: [7, 4], critical: [2, 3] } as const;

/**
 * The ±1 s.e. band of every curve: an area from `lo` to `hi`, coloured straight from the data's
 * `colour` field (no scale, so no legend of its own). `groupBy` splits curves that share a colour.
 */
export function errorBandLayer<S, A, Y extends object>(values: object[], x: { scale: S; axis: A }, y: Y, options: { opacity?: number; groupBy?: string } = {}) {
  return {
    data: { values },
    mark: { type: 'area' as const, opacity: options.opacity ?? 0.22 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale: x.scale, axis: x.axis },
      y: { ...y, field: 'lo' },
      y2: { field: 'hi' },
      fill: { field: 'colour', type: 'nominal' as const, scale: null },
      ...(options.groupBy ? { detail: { field: options.groupBy } } : {}),
    },
  };
}

/**
 * Options of the live page (web/) shared by the noise-axis figures: a fixed x domain (so the axis
 * stays put while data arrive and the slider moves) and a marker at the slider's noise level.
 * The static report gives neither.
 */
export interface LiveOptions {
  /** The x domain to draw instead of the data's extent. */
  xDomain?: [number, number];
  /** A noise level drawn as a solid vertical rule (the explorer's slider position). */
  marker?: number;
}

/** The x domain of a figure: the live option's when given, else the data's extent. */
export function xDomainOf(values: readonly number[], live: LiveOptions): [number, number] {
  return live.xDomain ? [live.xDomain[0], live.xDomain[1]] : extent(values);
}

/** The marker rule at the slider's noise level (none when `marker` is not given); its data are the vega dataset `marker`, so a live view can move it without a rebuild. */
export function markerLayers<S, A>(live: LiveOptions, x: { scale: S; axis: A }) {
  if (live.marker === undefined || !Number.isFinite(live.marker)) return [];
  return [
    {
      data: { name: 'marker', values: [{ x: live.marker }] },
      mark: { type: 'rule' as const, color: '#d62728', strokeWidth: 2, opacity: 0.9 },
      encoding: { x: { field: 'x', type: 'quantitative' as const, scale: x.scale, axis: x.axis } },
    },
  ];
}

/** Vertical rules at critical noise levels (e.g. the mean-field ε*), dashed by `strokeDash`. */
export function criticalRuleLayer<S, A, D extends object>(critical: readonly CriticalMark[], x: { scale: S; axis: A }, strokeDash: D) {
  return {
    data: { values: critical.map((c) => ({ x: c.value, source: c.label })) },
    mark: { type: 'rule' as const, color: '#666', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale: x.scale, axis: x.axis },
      strokeDash,
    },
  };
}
