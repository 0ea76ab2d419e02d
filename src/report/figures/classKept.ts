import type { TopLevelSpec } from 'vega-lite';
import type { ForwardBackwardRow } from '../../experiment/summary.ts';
import type { ProcessName } from '../../noise/process.ts';
import {
  baseConfig,
  clamp01,
  DASH,
  depthColorScale,
  HEIGHT,
  noiseAxisTitle,
  noiseSymbol,
  processLabel,
  SCHEMA,
  WIDTH,
  type CriticalMark,
  type TheoryCurves,
  type LiveOptions,
  xDomainOf,
  markerLayers,
  errorBandLayer,
  criticalRuleLayer,
} from './common.ts';

/** The fields of a result row this figure reads. */
export type ClassKeptRow = Pick<ForwardBackwardRow, 'depth' | 'process' | 'noise' | 'classKept' | 'classKeptSE'>;

export interface ClassKeptOptions extends LiveOptions {
  /** Which process's rows to draw. */
  process: ProcessName;
  /** Predicted P_0(noise) per depth (mean-field for eps, population dynamics for real noise). */
  theory?: TheoryCurves;
  /** Predicted critical noise, drawn as a vertical rule. */
  critical?: CriticalMark;
  /** Schedule name for the gaussian axis title. */
  scheduleName?: string;
  title?: string;
}

const DATA_LABEL = 'exact BP (± 1 s.e.)';

/**
 * Class kept P_0 = Pr[ĉ = c] against the noise level for several depths L (docs/science.md §4): the paper's
 * main figure. Points and lines are the marginal estimator with a ±1 standard-error band; a
 * theory family is dashed in the same colours; a critical noise is a dotted vertical rule.
 */
export function classKeptFigure(rows: readonly ClassKeptRow[], options: ClassKeptOptions): TopLevelSpec {
  const data = rows
    .filter((r) => r.process === options.process)
    .map((r) => ({
      L: r.depth,
      x: r.noise,
      y: r.classKept,
      lo: clamp01(r.classKept - (r.classKeptSE ?? 0)),
      hi: clamp01(r.classKept + (r.classKeptSE ?? 0)),
      source: DATA_LABEL,
      colour: '',
    }))
    .sort((a, b) => a.L - b.L || a.x - b.x);
  const depths = data.map((d) => d.L);
  const colours = depthColorScale(depths);
  for (const d of data) d.colour = colours.range[colours.domain.indexOf(d.L)];
  const [x0, x1] = xDomainOf(
    data.map((d) => d.x),
    options,
  );
  const theory = (options.theory?.points ?? [])
    .filter((p) => depths.includes(p.depth) && p.noise >= x0 && p.noise <= x1)
    .map((p) => ({ L: p.depth, x: p.noise, y: p.value, source: options.theory!.label }));
  const critical = options.critical && options.critical.value >= x0 && options.critical.value <= x1 ? [options.critical] : [];
  const dashDomain = [DATA_LABEL, ...(theory.length ? [options.theory!.label] : []), ...critical.map((c) => c.label)];
  const dashRange = [DASH.data, ...(theory.length ? [DASH.theory] : []), ...critical.map(() => DASH.critical)];
  const sym = noiseSymbol(options.process);
  const xScale = { domain: [x0, x1], nice: false, zero: false };
  const xAxis = { title: noiseAxisTitle(options.process, options.scheduleName), tickCount: 8 };
  const yEnc = { field: 'y', type: 'quantitative' as const, title: 'class kept P₀ = Pr[ĉ = c]', scale: { domain: [0, 1] } };
  const color = { field: 'L', type: 'ordinal' as const, title: 'depth L', scale: colours, legend: { orient: 'bottom-left' as const, symbolType: 'stroke' } };
  const strokeDash = {
    field: 'source',
    type: 'nominal' as const,
    title: null,
    scale: { domain: dashDomain, range: dashRange.map((d) => [...d]) },
    legend: { orient: 'top-right' as const, symbolStrokeColor: '#444', symbolSize: 300 },
  };
  return {
    $schema: SCHEMA,
    title: {
      text: options.title ?? `Class kept vs noise — ${processLabel(options.process)}`,
      subtitle: `P₀ drops at a threshold ${options.process === 'gaussian' ? 't*/T' : `${sym}*`} that sharpens as the depth L grows`,
    },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(data, { scale: xScale, axis: xAxis }, yEnc),
      {
        data: { values: [...data, ...theory] },
        mark: { type: 'line', strokeWidth: 2, clip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: xScale, axis: xAxis },
          y: yEnc,
          color,
          strokeDash,
          detail: { field: 'source' },
        },
      },
      {
        data: { values: data },
        mark: { type: 'point', filled: true, size: 28 },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: xScale, axis: xAxis },
          y: yEnc,
          fill: { field: 'colour', type: 'nominal', scale: null },
        },
      },
      ...(critical.length ? [criticalRuleLayer(critical, { scale: xScale, axis: xAxis }, strokeDash)] : []),
      ...markerLayers(options, { scale: xScale, axis: xAxis }),
    ],
  } as TopLevelSpec;
}
