import type { TopLevelSpec } from 'vega-lite';
import { baseConfig, HEIGHT, SCHEMA } from './common.ts';

/** A fixed point of the map, p = F(p), with its stability and the label drawn next to it. */
export interface FixedPointMark {
  p: number;
  stable: boolean;
  label: string;
}

/** A cobweb: the iterates p_L → p_{L−1} → … → p_0 as the staircase (p_L, p_L), (p_L, F(p_L)), (F(p_L), F(p_L)), … */
export interface Cobweb {
  label: string;
  path: readonly { x: number; y: number }[];
}

export interface MeanFieldMapData {
  /** F sampled on [0, 1]. */
  curve: readonly { p: number; F: number }[];
  fixedPoints: readonly FixedPointMark[];
  cobwebs: readonly Cobweb[];
  /** Subtitle, e.g. the grammar parameters. */
  subtitle?: string;
}

const CURVE = 'map F(p)';
const DIAGONAL = 'diagonal F(p) = p';
const COBWEB_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

/** The [0, 1] scale of both axes (the map sends beliefs to beliefs), one object per figure as vega-lite receives it. */
type Scale = { domain: number[]; nice: boolean };
const axis = (title: string) => ({ title, tickCount: 6 });

type FixedDatum = { x: number; y: number; kind: string; label: string };

/** The diagonal (thin) and F (thick), both titled axes, in one grey-to-black legend. */
function curveLayers(input: MeanFieldMapData, scale: Scale) {
  const curve = input.curve.map((c) => ({ x: c.p, y: c.F, source: CURVE }));
  const diagonal = [
    { x: 0, y: 0, source: DIAGONAL },
    { x: 1, y: 1, source: DIAGONAL },
  ];
  return [
    { values: diagonal, width: 1.2 },
    { values: curve, width: 2.5 },
  ].map((part) => ({
    data: { values: part.values },
    mark: { type: 'line' as const, clip: true, strokeWidth: part.width },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale, axis: axis('belief at level ℓ,  p_ℓ') },
      y: { field: 'y', type: 'quantitative' as const, scale, axis: axis('belief one level up,  p_ℓ₋₁ = F(p_ℓ)') },
      color: {
        field: 'source',
        type: 'nominal' as const,
        title: null,
        scale: { domain: [CURVE, DIAGONAL], range: ['#111', '#aaa'] },
        legend: { orient: 'top-left' as const, symbolType: 'stroke' },
      },
    },
  }));
}

/** The cobweb staircases, drawn in path order, one colour each. */
function cobwebLayer(cobwebs: readonly Cobweb[], scale: Scale) {
  return {
    data: { values: cobwebs.flatMap((c) => c.path.map((pt, order) => ({ x: pt.x, y: pt.y, order, cobweb: c.label }))) },
    mark: { type: 'line', strokeWidth: 1.5, clip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', scale },
      y: { field: 'y', type: 'quantitative', scale },
      order: { field: 'order', type: 'quantitative' },
      stroke: {
        field: 'cobweb',
        type: 'nominal',
        title: 'cobweb from the leaves',
        scale: { domain: cobwebs.map((c) => c.label), range: COBWEB_COLOURS.slice(0, cobwebs.length) },
        legend: { orient: 'bottom-right', symbolType: 'stroke' },
      },
    },
  };
}

/** The fixed points: filled when stable, open when unstable. */
function fixedPointLayer(fixed: readonly FixedDatum[], scale: Scale) {
  return {
    data: { values: fixed },
    mark: { type: 'point', size: 90, stroke: '#111', strokeWidth: 1.5, opacity: 1 },
    encoding: {
      x: { field: 'x', type: 'quantitative', scale },
      y: { field: 'y', type: 'quantitative', scale },
      fill: {
        field: 'kind',
        type: 'nominal',
        title: null,
        scale: { domain: ['stable fixed point', 'unstable fixed point'], range: ['#111', '#fff'] },
        legend: { orient: 'bottom-right', symbolStrokeColor: '#111' },
      },
    },
  };
}

/**
 * The fixed points' labels, placed to avoid the curves: right of a point near the origin,
 * below-right of 1, above-left of an interior point (where F lies under the diagonal and nothing is drawn).
 */
function fixedPointLabelLayers(fixed: readonly FixedDatum[], scale: Scale) {
  return (
    [
      { where: (x: number) => x < 0.1, align: 'left', baseline: 'middle', dx: 10, dy: 2 },
      { where: (x: number) => x > 0.9, align: 'left', baseline: 'top', dx: 7, dy: 5 },
      { where: (x: number) => x >= 0.1 && x <= 0.9, align: 'right', baseline: 'bottom', dx: -8, dy: -6 },
    ] as const
  ).map((place) => ({
    data: { values: fixed.filter((f) => place.where(f.x)) },
    mark: { type: 'text' as const, align: place.align, baseline: place.baseline, dx: place.dx, dy: place.dy, fontSize: 12 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, scale },
      y: { field: 'y', type: 'quantitative' as const, scale },
      text: { field: 'label', type: 'nominal' as const },
    },
  }));
}

/**
 * The annealed mean-field map p_{ℓ−1} = F(p_ℓ) of docs/science.md §5 with the diagonal, its fixed points
 * (filled: stable, open: unstable) and cobwebs from chosen leaf beliefs: below the unstable p* the
 * iterates flow to 1/v (class forgotten), above it to 1 (class kept).
 */
export function meanFieldMapFigure(input: MeanFieldMapData): TopLevelSpec {
  const fixed = input.fixedPoints.map((f) => ({ x: f.p, y: f.p, kind: f.stable ? 'stable fixed point' : 'unstable fixed point', label: f.label }));
  const scale: Scale = { domain: [0, 1], nice: false };
  const size = HEIGHT + 60;
  return {
    $schema: SCHEMA,
    title: { text: 'Mean-field map of the belief in the true symbol', subtitle: input.subtitle ?? 'p_ℓ₋₁ = F(p_ℓ), iterated from the leaves (p_L) to the root (p₀)' },
    width: size,
    height: size,
    config: baseConfig(),
    layer: [...curveLayers(input, scale), cobwebLayer(input.cobwebs, scale), fixedPointLayer(fixed, scale), ...fixedPointLabelLayers(fixed, scale)],
  } as TopLevelSpec;
}
