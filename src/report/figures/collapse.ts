import type { TopLevelSpec } from 'vega-lite';
import type { ForwardBackwardRow } from '../../experiment/summary.ts';
import type { ProcessName } from '../../noise/process.ts';
import { baseConfig, clamp01, DASH, depthColorScale, HEIGHT, noiseSymbol, SCHEMA, WIDTH, errorBandLayer } from './common.ts';

/** The fields of a result row this figure reads. */
export type CollapseRow = Pick<ForwardBackwardRow, 'depth' | 'process' | 'noise' | 'classKept' | 'classKeptSE'>;

export interface CollapseOptions {
  process: ProcessName;
  /** ε*: the critical noise the abscissa is centred on. */
  critical: number;
  /** λ = F′(p*): the growth rate of a deviation per level (docs/science.md §5). */
  lambda: number;
  /** The limiting scaling function P_0 against x = (ε − ε*)·λ^L, e.g. mean-field at large L. */
  scaling?: { label: string; points: readonly { x: number; value: number }[] };
  /** Abscissa window; points outside are dropped. Default [−4, 4]. */
  window?: [number, number];
}

const DATA_LABEL = 'exact BP (± 1 s.e.)';

/**
 * Finite-size collapse (docs/science.md §5): P_0 against x = (ε − ε*)·λ^L. Near ε* a deviation of the leaf
 * belief grows by λ per level, so curves of every depth should fall on one scaling function.
 */
export function collapseFigure(rows: readonly CollapseRow[], options: CollapseOptions): TopLevelSpec {
  const [w0, w1] = options.window ?? [-4, 4];
  const data = rows
    .filter((r) => r.process === options.process)
    .map((r) => ({
      L: r.depth,
      x: (r.noise - options.critical) * options.lambda ** r.depth,
      y: r.classKept,
      lo: clamp01(r.classKept - (r.classKeptSE ?? 0)),
      hi: clamp01(r.classKept + (r.classKeptSE ?? 0)),
      source: DATA_LABEL,
      colour: '',
    }))
    .filter((d) => d.x >= w0 && d.x <= w1)
    .sort((a, b) => a.L - b.L || a.x - b.x);
  const colours = depthColorScale(data.map((d) => d.L));
  for (const d of data) d.colour = colours.range[colours.domain.indexOf(d.L)];
  const scaling = (options.scaling?.points ?? []).filter((p) => p.x >= w0 && p.x <= w1).map((p) => ({ x: p.x, y: p.value, source: options.scaling!.label }));
  const sym = noiseSymbol(options.process);
  const xScale = { domain: [w0, w1], nice: false, zero: false };
  const xAxis = {
    title: `scaled distance to the transition (${sym} − ${sym}*)·λᴸ   [${sym}* = ${options.critical.toFixed(3)}, λ = ${options.lambda.toFixed(3)}]`,
    tickCount: 8,
  };
  const yEnc = { field: 'y', type: 'quantitative' as const, title: 'class kept P₀', scale: { domain: [0, 1] } };
  const dashDomain = [DATA_LABEL, ...(scaling.length ? [options.scaling!.label] : [])];
  const dashRange = [DASH.data, ...(scaling.length ? [DASH.theory] : [])].map((d) => [...d]);
  return {
    $schema: SCHEMA,
    title: { text: 'Finite-size collapse of the class transition', subtitle: 'Rescaled by λᴸ, curves of all depths fall on one scaling function' },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(data, { scale: xScale, axis: xAxis }, yEnc, { groupBy: 'L' }),
      ...(scaling.length
        ? [
            {
              data: { values: scaling },
              mark: { type: 'line' as const, strokeWidth: 2.5, color: '#222', clip: true },
              encoding: {
                x: { field: 'x', type: 'quantitative' as const, scale: xScale, axis: xAxis },
                y: yEnc,
                strokeDash: { field: 'source', type: 'nominal' as const, title: null, scale: { domain: dashDomain, range: dashRange }, legend: { orient: 'top-right' as const, symbolSize: 300 } },
              },
            },
          ]
        : []),
      {
        data: { values: data },
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 24 } },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: xScale, axis: xAxis },
          y: yEnc,
          color: { field: 'L', type: 'ordinal', title: 'depth L', scale: colours, legend: { orient: 'bottom-left', symbolType: 'stroke' } },
        },
      },
    ],
  } as TopLevelSpec;
}
