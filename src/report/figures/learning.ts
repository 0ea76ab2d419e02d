import type { TopLevelSpec } from 'vega-lite';
import type { LearnedForwardBackwardRow } from '../../learn/forwardBackward.ts';
import { baseConfig, clamp01, DASH, errorBandLayer, HEIGHT, SCHEMA, viridis, WIDTH } from './common.ts';

/** One trained model of a study: its training-set size and what it achieved. */
export interface StudyPoint {
  trainSize: number;
  /** Fractions of valid nodes for layers 1 … L (layer 1 = the lowest rules). */
  validByLayer: number[];
  fullyValid: number;
  forwardBackward: LearnedForwardBackwardRow[] | null;
}

/** Colour of layer j of L (1 = lowest rules): dark for low layers, bright for high ones. */
function layerColour(j: number, L: number): string {
  return viridis(L <= 1 ? 0 : (0.85 * (j - 1)) / (L - 1));
}

/**
 * Valid fraction per layer against the number of training data P (log scale), one line per layer
 * (docs/science.md §7): the published claim is that higher layers need more data. Dotted: the
 * random-token baseline of each layer.
 */
export function validityVsDataFigure(points: readonly StudyPoint[], baseline: readonly number[]): TopLevelSpec {
  const L = points[0]?.validByLayer.length ?? 0;
  const layers = Array.from({ length: L }, (_, i) => `layer ${i + 1}${i === 0 ? ' (lowest rules)' : i === L - 1 ? ' (root)' : ''}`);
  const data = points.flatMap((p) => p.validByLayer.map((v, i) => ({ P: p.trainSize, y: v, layer: layers[i], source: 'trained model' })));
  const sizes = points.map((p) => p.trainSize);
  const base = baseline.flatMap((b, i) => [Math.min(...sizes), Math.max(...sizes)].map((P) => ({ P, y: b, layer: layers[i], source: 'random tokens' })));
  const x = { field: 'P', type: 'quantitative' as const, title: 'training data P', scale: { type: 'log' as const, base: 2 }, axis: { values: sizes, format: 'd' } };
  const y = { field: 'y', type: 'quantitative' as const, title: 'valid fraction of the samples’ nodes', scale: { domain: [0, 1] } };
  const colour = {
    field: 'layer',
    type: 'nominal' as const,
    title: null,
    sort: layers,
    scale: { domain: layers, range: layers.map((_, i) => layerColour(i + 1, L)) },
    // Outside the plot: inside, any corner hides a layer's line at some P.
    legend: { orient: 'right' as const },
  };
  const dash = {
    field: 'source',
    type: 'nominal' as const,
    title: null,
    scale: { domain: ['trained model', 'random tokens'], range: [[...DASH.data], [...DASH.critical]] },
    legend: { orient: 'right' as const },
  };
  return {
    $schema: SCHEMA,
    title: { text: 'Which rules a trained model has learned', subtitle: 'samples of the trained denoiser, valid nodes per layer, against the training-set size' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      { data: { values: [...data, ...base] }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color: colour, strokeDash: dash, detail: { field: 'source' } } },
      { data: { values: data }, mark: { type: 'point', filled: true, size: 30 }, encoding: { x, y, color: colour } },
    ],
  } as TopLevelSpec;
}

/**
 * Class kept against the noise level 1 − ᾱ_t, exact BP (black, ±1 s.e.) beside the trained models
 * of several training-set sizes (coloured by P): how the trained denoiser's transition approaches
 * the exact one as P grows.
 */
export function learnedClassKeptFigure(points: readonly StudyPoint[], process: string): TopLevelSpec {
  const withFb = points.filter((p) => p.forwardBackward);
  const bpRows = withFb[0]?.forwardBackward ?? [];
  const names = [...withFb.map((p) => `trained, P = ${p.trainSize}`), 'exact BP'];
  const colours = [...withFb.map((_, i) => viridis(withFb.length <= 1 ? 0.4 : 0.1 + (0.75 * i) / (withFb.length - 1))), '#000000'];
  const rows = [
    ...withFb.flatMap((p) =>
      p.forwardBackward!.map((r) => ({
        x: r.noise,
        y: r.model.classKept,
        lo: clamp01(r.model.classKept - r.model.classKeptSE),
        hi: clamp01(r.model.classKept + r.model.classKeptSE),
        series: `trained, P = ${p.trainSize}`,
      })),
    ),
    ...bpRows.map((r) => ({ x: r.noise, y: r.bp.classKept, lo: clamp01(r.bp.classKept - r.bp.classKeptSE), hi: clamp01(r.bp.classKept + r.bp.classKeptSE), series: 'exact BP' })),
  ].map((r) => ({ ...r, colour: colours[names.indexOf(r.series)] }));
  const xScale = { domain: [0, 1], nice: false, zero: true };
  const xAxis = { title: `noise 1 − ᾱ_t (${process === 'mask' ? 'masked fraction' : 'resampled fraction'})`, tickCount: 10 };
  const y = { field: 'y', type: 'quantitative' as const, title: 'class kept P₀ (generated sample parses to the class)', scale: { domain: [0, 1] } };
  return {
    $schema: SCHEMA,
    title: { text: 'Class kept: trained denoisers vs exact BP', subtitle: 'same data, same noisy x_t; the model runs its reverse chain, BP draws an exact posterior sample' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(rows, { scale: xScale, axis: xAxis }, y, { opacity: 0.15, groupBy: 'series' }),
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2, point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: xScale, axis: xAxis },
          y,
          color: { field: 'series', type: 'nominal', title: null, sort: names, scale: { domain: names, range: colours }, legend: { orient: 'top-right' } },
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * The held-out loss during training, one line per training-set size (log y): the convergence
 * criterion reads these curves (the loss no longer falls over the last 20 % of the steps).
 */
export function testLossFigure(points: readonly { trainSize: number; testLoss: readonly { step: number; value: number }[] }[]): TopLevelSpec {
  const withCurve = points.filter((p) => p.testLoss.length > 0);
  const names = withCurve.map((p) => `P = ${p.trainSize}`);
  const colours = withCurve.map((_, i) => viridis(withCurve.length <= 1 ? 0.4 : 0.1 + (0.75 * i) / (withCurve.length - 1)));
  const rows = withCurve.flatMap((p) => p.testLoss.map((q) => ({ step: q.step, loss: q.value, series: `P = ${p.trainSize}` })));
  return {
    $schema: SCHEMA,
    title: { text: 'Held-out loss during training', subtitle: 'the loss on test data (all times, fixed draws) every few hundred steps, one line per training-set size' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 2, point: { size: 12 } },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimisation step' },
      y: { field: 'loss', type: 'quantitative', title: 'test loss per token', scale: { type: 'log', zero: false, nice: false } },
      color: { field: 'series', type: 'nominal', title: null, sort: names, scale: { domain: names, range: colours }, legend: { orient: 'right' } },
    },
  } as TopLevelSpec;
}

/**
 * Level kept against the noise for one trained model (solid) beside exact BP on the same x_t
 * (dashed), one colour per level from the root to the tokens: whether the model changes the
 * levels in the order and at the noise the exact denoiser does.
 */
export function learnedLevelKeptFigure(point: StudyPoint, process: string): TopLevelSpec {
  const rowsFb = point.forwardBackward ?? [];
  const depth = (rowsFb[0]?.model.levelKept.length ?? 1) - 1;
  const levels = Array.from({ length: depth + 1 }, (_, l) => (l === 0 ? 'class (ℓ = 0)' : l === depth ? `tokens (ℓ = ${l})` : `ℓ = ${l}`));
  const sources = [`trained, P = ${point.trainSize}`, 'exact BP'];
  const rows = rowsFb.flatMap((r) =>
    levels.flatMap((level, l) => [
      { x: r.noise, y: r.model.levelKept[l], level, source: sources[0] },
      { x: r.noise, y: r.bp.levelKept[l], level, source: sources[1] },
    ]),
  );
  const xAxis = { title: `noise 1 − ᾱ_t (${process === 'mask' ? 'masked fraction' : 'resampled fraction'})`, tickCount: 10 };
  return {
    $schema: SCHEMA,
    title: { text: `Level kept: trained denoiser (P = ${point.trainSize}) vs exact BP`, subtitle: 'fraction of each level’s nodes whose parsed symbol is the original latent' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    data: { values: rows },
    encoding: {
      x: { field: 'x', type: 'quantitative', scale: { domain: [0, 1], nice: false }, axis: xAxis },
      y: { field: 'y', type: 'quantitative', title: 'level kept', scale: { domain: [0, 1] } },
      color: {
        field: 'level',
        type: 'nominal',
        title: null,
        sort: levels,
        scale: { domain: levels, range: levels.map((_, l) => viridis(depth === 0 ? 0 : (0.85 * l) / depth)) },
        legend: { orient: 'bottom-left' },
      },
    },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          strokeDash: { field: 'source', type: 'nominal', title: null, scale: { domain: sources, range: [[...DASH.data], [...DASH.critical]] }, legend: { orient: 'top-right' } },
          detail: { field: 'source' },
        },
      },
      { mark: { type: 'point', filled: true, size: 14 } },
    ],
  } as TopLevelSpec;
}
