import type { TopLevelSpec } from 'vega-lite';
import type { ForwardBackwardRow } from '../../experiment/summary.ts';
import type { ProcessName } from '../../noise/process.ts';
import {
  baseConfig,
  DASH,
  depthColorScale,
  extent,
  HEIGHT,
  noiseAxisTitle,
  processLabel,
  SCHEMA,
  WIDTH,
  type CriticalMark,
  errorBandLayer,
  criticalRuleLayer,
  markerLayers,
  xDomainOf,
  type LiveOptions,
} from './common.ts';

/** The fields this figure reads: a result row plus the standard error of χ (null when unknown). */
export type SusceptibilityRow = Pick<ForwardBackwardRow, 'depth' | 'process' | 'noise' | 'chi'> & { chiSE?: number | null };

export interface SusceptibilityOptions extends LiveOptions {
  process: ProcessName;
  critical?: CriticalMark;
  scheduleName?: string;
}

/**
 * Susceptibility χ = Σ_ij C_ij / Σ_i C_ii (docs/science.md §4, the follow-up paper): how many tokens change
 * together in one round trip. It peaks at the transition and the peak grows with L. Rows without
 * χ (one trajectory) are skipped; a band of ±1 s.e. is drawn where the error is known.
 */
export function susceptibilityFigure(rows: readonly SusceptibilityRow[], options: SusceptibilityOptions): TopLevelSpec {
  const data = rows
    .filter((r) => r.process === options.process && r.chi !== null && Number.isFinite(r.chi))
    .map((r) => {
      const se = r.chiSE ?? 0;
      return { L: r.depth, x: r.noise, y: r.chi!, lo: Math.max(0, r.chi! - se), hi: r.chi! + se, colour: '' };
    })
    .sort((a, b) => a.L - b.L || a.x - b.x);
  const colours = depthColorScale(data.map((d) => d.L));
  for (const d of data) d.colour = colours.range[colours.domain.indexOf(d.L)];
  const [x0, x1] = xDomainOf(
    data.map((d) => d.x),
    options,
  );
  const [, yMax] = extent(data.map((d) => d.hi));
  const critical = options.critical && options.critical.value >= x0 && options.critical.value <= x1 ? [options.critical] : [];
  const xScale = { domain: [x0, x1], nice: false, zero: false };
  const xAxis = { title: noiseAxisTitle(options.process, options.scheduleName), tickCount: 8 };
  // Headroom above the highest peak keeps the top-left legend clear of the curves.
  const yEnc = { field: 'y', type: 'quantitative' as const, title: 'susceptibility χ = Σᵢⱼ Cᵢⱼ / Σᵢ Cᵢᵢ (tokens)', scale: { domain: [0, Math.max(1, yMax * 1.15)], nice: true } };
  return {
    $schema: SCHEMA,
    title: { text: `Correlated changes — ${processLabel(options.process)}`, subtitle: 'χ: how many tokens change together; it peaks at the transition, higher for larger L' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(data, { scale: xScale, axis: xAxis }, yEnc, { groupBy: 'L' }),
      ...(critical.length
        ? [
            criticalRuleLayer(
              critical,
              { scale: xScale, axis: xAxis },
              {
                field: 'source',
                type: 'nominal' as const,
                title: null,
                scale: { domain: critical.map((c) => c.label), range: [[...DASH.critical]] },
                legend: { orient: 'top-right' as const, symbolStrokeColor: '#444', symbolSize: 300 },
              },
            ),
          ]
        : []),
      {
        data: { values: data },
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 24 } },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: xScale, axis: xAxis },
          y: yEnc,
          color: { field: 'L', type: 'ordinal', title: 'depth L', scale: colours, legend: { orient: 'top-left', symbolType: 'stroke' } },
        },
      },
      ...markerLayers(options, { scale: xScale, axis: xAxis }),
    ],
  } as TopLevelSpec;
}
