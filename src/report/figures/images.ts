import type { TopLevelSpec } from 'vega-lite';
import type { ImagesSummaryRow } from '../../images/experiment/summary.ts';
import { baseConfig, clamp01, errorBandLayer, HEIGHT, plasma, SCHEMA, WIDTH } from './common.ts';

const X_AXIS = { title: 'noise time t/T of the round trip', tickCount: 10 };
const X_SCALE = { domain: [0, 1], nice: false, zero: true };

/**
 * Class kept against t/T for an image diffusion model (docs/science.md §6): the fraction of round
 * trips whose top-1 class equals the original's (and, when labels exist, the label), ±1 s.e. over
 * images. The paper's image claim: a sharp drop at t* ≈ 0.5–0.7 T for an ImageNet model.
 */
export function imagesClassKeptFigure(rows: readonly ImagesSummaryRow[], options: { title?: string } = {}): TopLevelSpec {
  const series = [
    { name: 'top-1 = original top-1', colour: '#1f4e9c', get: (r: ImagesSummaryRow) => [r.classKept, r.classKeptSE] as const },
    ...(rows.length && rows.every((r) => r.classKeptLabel !== undefined)
      ? [{ name: 'top-1 = label', colour: '#c2410c', get: (r: ImagesSummaryRow) => [r.classKeptLabel!, r.classKeptLabelSE!] as const }]
      : []),
  ];
  const data = series.flatMap((s) =>
    rows.map((r) => {
      const [y, se] = s.get(r);
      return { x: r.tOverT, y, lo: clamp01(y - (se ?? 0)), hi: clamp01(y + (se ?? 0)), series: s.name, colour: s.colour };
    }),
  );
  const y = { field: 'y', type: 'quantitative' as const, title: 'class kept (fraction of round trips)', scale: { domain: [0, 1] } };
  const colour = { field: 'series', type: 'nominal' as const, title: null, scale: { domain: series.map((s) => s.name), range: series.map((s) => s.colour) }, legend: { orient: 'top-right' as const } };
  return {
    $schema: SCHEMA,
    title: { text: options.title ?? 'Class kept vs noise time — image diffusion model', subtitle: 'noise to t, denoise back, classify: ±1 s.e. over images' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(data, { scale: X_SCALE, axis: X_AXIS }, y, { groupBy: 'series' }),
      { data: { values: data }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x: { field: 'x', type: 'quantitative', scale: X_SCALE, axis: X_AXIS }, y, color: colour } },
      {
        data: { values: data },
        mark: { type: 'point', filled: true, size: 28 },
        encoding: { x: { field: 'x', type: 'quantitative', scale: X_SCALE, axis: X_AXIS }, y, fill: { field: 'colour', type: 'nominal', scale: null } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Cosine similarity of whitened activations (original vs generated) against t/T, one curve per
 * probed layer coloured by depth (plasma: early layers dark, deep layers bright). The paper's point:
 * early layers change smoothly, deep layers drop sharply with the class.
 */
export function imagesLayersFigure(rows: readonly ImagesSummaryRow[], options: { title?: string } = {}): TopLevelSpec {
  const names = rows[0]?.layers.map((l) => l.name) ?? [];
  const n = names.length;
  const colourOf = (j: number) => plasma(n <= 1 ? 0 : (0.85 * j) / (n - 1));
  const data = rows.flatMap((r) =>
    r.layers.map((l) => ({ x: r.tOverT, y: l.cosine, lo: l.cosine - (l.cosineSE ?? 0), hi: l.cosine + (l.cosineSE ?? 0), layer: l.name, depth: l.depth, colour: colourOf(l.depth) })),
  );
  const y = { field: 'y', type: 'quantitative' as const, title: 'cosine similarity of whitened activations' };
  // Many layers (ConvNeXt: 41) make a long legend: show the depth scale only when it stays readable.
  const legend = n <= 12 ? { orient: 'bottom-left' as const, title: 'layer (depth order)' } : null;
  return {
    $schema: SCHEMA,
    title: { text: options.title ?? 'Hidden representations vs noise time', subtitle: `${n} probed layer${n === 1 ? '' : 's'}, dark = early, bright = deep` },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(data, { scale: X_SCALE, axis: X_AXIS }, y, { opacity: 0.12, groupBy: 'layer' }),
      {
        data: { values: data },
        mark: { type: 'line', strokeWidth: 1.8 },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: X_SCALE, axis: X_AXIS },
          y,
          color: { field: 'layer', type: 'nominal', sort: names, scale: { domain: names, range: names.map((_, j) => colourOf(j)) }, legend },
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Susceptibility χ = Σ C_ij / Σ C_ii of patch change magnitudes over trajectories against t/T
 * (docs/science.md §4, §6): how many patches change together. It peaks near t*.
 */
export function imagesChiFigure(rows: readonly ImagesSummaryRow[], options: { title?: string } = {}): TopLevelSpec {
  const data = rows.filter((r) => r.chi !== null).map((r) => ({ x: r.tOverT, y: r.chi }));
  const y = { field: 'y', type: 'quantitative' as const, title: 'χ = Σ C_ij / Σ C_ii (patches changing together)', scale: { zero: true } };
  return {
    $schema: SCHEMA,
    title: { text: options.title ?? 'Correlated changes vs noise time', subtitle: 'pixel-change magnitudes over trajectories of the same image' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      { data: { values: data }, mark: { type: 'line', strokeWidth: 2, color: '#1f4e9c' }, encoding: { x: { field: 'x', type: 'quantitative', scale: X_SCALE, axis: X_AXIS }, y } },
      { data: { values: data }, mark: { type: 'point', filled: true, size: 28, color: '#1f4e9c' }, encoding: { x: { field: 'x', type: 'quantitative', scale: X_SCALE, axis: X_AXIS }, y } },
    ],
  } as TopLevelSpec;
}
