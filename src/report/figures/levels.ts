import type { TopLevelSpec } from 'vega-lite';
import type { ForwardBackwardRow } from '../../experiment/summary.ts';
import type { ProcessName } from '../../noise/process.ts';
import { baseConfig, clamp01, DASH, HEIGHT, markerLayers, xDomainOf, type LiveOptions, noiseAxisTitle, plasma, SCHEMA, WIDTH, errorBandLayer } from './common.ts';

/** The fields of a result row this figure reads. */
export type LevelKeptRow = Pick<ForwardBackwardRow, 'depth' | 'process' | 'noise' | 'levelKept' | 'levelKeptSE'>;

/** A predicted level profile point: P_ℓ at one noise level. */
export interface LevelCurvePoint {
  level: number;
  noise: number;
  value: number;
}

export interface LevelKeptOptions extends LiveOptions {
  process: ProcessName;
  /** The depth L whose rows are drawn. */
  depth: number;
  /** Predicted P_ℓ(noise), e.g. population dynamics with the downward pass. */
  theory?: { label: string; points: readonly LevelCurvePoint[] };
  scheduleName?: string;
}

const DATA_LABEL = 'exact BP (± 1 s.e.)';

/**
 * Columns of the level legend: several when that fills the grid exactly (vega's legend grid
 * misplaces a ragged last row), else one.
 */
function legendColumns(entries: number): number {
  if (entries <= 6) return 1;
  return entries % 3 === 0 ? 3 : entries % 2 === 0 ? 2 : 1;
}

/** Colour of level ℓ of a depth-L tree: plasma, root dark, leaves light (yellow end cut off). */
export function levelColour(level: number, depth: number): string {
  return plasma(0.85 * (level / Math.max(1, depth)));
}

/** One drawn point of a level curve: P_ℓ at one noise level with its ±1 s.e. band and colour. */
interface LevelDatum {
  level: number;
  x: number;
  y: number;
  lo: number;
  hi: number;
  source: string;
  colour: string;
}

/** The measured P_ℓ of the chosen process and depth, sorted by level then noise. */
function levelData(rows: readonly LevelKeptRow[], options: LevelKeptOptions): LevelDatum[] {
  const L = options.depth;
  return rows
    .filter((r) => r.process === options.process && r.depth === L)
    .flatMap((r) =>
      r.levelKept.map((y, level) => ({
        level,
        x: r.noise,
        y,
        lo: clamp01(y - (r.levelKeptSE[level] ?? 0)),
        hi: clamp01(y + (r.levelKeptSE[level] ?? 0)),
        source: DATA_LABEL,
        colour: levelColour(level, L),
      })),
    )
    .sort((a, b) => a.level - b.level || a.x - b.x);
}

/** The theory points that fall on the drawn levels and inside the x domain. */
function levelTheoryData(options: LevelKeptOptions, [x0, x1]: [number, number]) {
  return (options.theory?.points ?? [])
    .filter((p) => p.level >= 0 && p.level <= options.depth && p.noise >= x0 && p.noise <= x1)
    .map((p) => ({ level: p.level, x: p.noise, y: p.value, source: options.theory!.label }));
}

/** The source (data vs theory) dash encoding, shared by the data and theory lines. */
function sourceDash(theoryLabel: string | null) {
  const dashDomain = [DATA_LABEL, ...(theoryLabel !== null ? [theoryLabel] : [])];
  const dashRange = [DASH.data, ...(theoryLabel !== null ? [[4, 3]] : [])].map((d) => [...d]);
  return {
    field: 'source',
    type: 'nominal' as const,
    title: null,
    scale: { domain: dashDomain, range: dashRange },
    // Only worth a legend when there is a theory to tell apart; it stacks under the level legend.
    legend: theoryLabel !== null ? { orient: 'bottom-left' as const, symbolStrokeColor: '#222', symbolSize: 300 } : null,
  };
}

/** The encodings every layer shares: x (scale and axis) and y. */
interface LevelAxes {
  x: { field: string; type: 'quantitative'; scale: { domain: number[]; nice: boolean; zero: boolean }; axis: { title: string; tickCount: number } };
  y: { field: string; type: 'quantitative'; title: string; scale: { domain: number[] } };
}

/** The measured curves: one line per level coloured root dark to leaves light, then their points. */
function levelDataLayers(data: readonly LevelDatum[], axes: LevelAxes, dash: ReturnType<typeof sourceDash>, L: number) {
  const levels = Array.from({ length: L + 1 }, (_, l) => l);
  return [
    {
      data: { values: data },
      mark: { type: 'line', strokeWidth: 1.8, clip: true },
      encoding: {
        x: axes.x,
        y: axes.y,
        color: {
          field: 'level',
          type: 'ordinal',
          title: 'level ℓ (0 = root)',
          scale: { domain: levels, range: levels.map((l) => levelColour(l, L)) },
          legend: { orient: 'bottom-left', symbolType: 'stroke', columns: legendColumns(L + 1), columnPadding: 8 },
        },
        strokeDash: dash,
      },
    },
    {
      data: { values: data },
      mark: { type: 'point', filled: true, size: 16 },
      encoding: { x: axes.x, y: axes.y, fill: { field: 'colour', type: 'nominal', scale: null } },
    },
  ];
}

/** The theory profile, thin and dark on top: where it matches the data it would vanish under the coloured lines. */
function levelTheoryLayer(theory: readonly object[], axes: LevelAxes, dash: ReturnType<typeof sourceDash>) {
  return {
    data: { values: theory },
    mark: { type: 'line' as const, strokeWidth: 1.1, color: '#222', opacity: 0.85, clip: true },
    encoding: { x: axes.x, y: axes.y, strokeDash: dash, detail: { field: 'level', type: 'ordinal' as const } },
  };
}

/**
 * Level kept P_ℓ (ℓ = 0 root … L leaves) against the noise level at one depth (docs/science.md §4): the root
 * drops sharply at the transition, levels near the leaves decay smoothly. One line per level
 * with a ±1 standard-error band; an optional theory profile is dashed in the same colours.
 */
export function levelKeptFigure(rows: readonly LevelKeptRow[], options: LevelKeptOptions): TopLevelSpec {
  const L = options.depth;
  const data = levelData(rows, options);
  const [x0, x1] = xDomainOf(
    data.map((d) => d.x),
    options,
  );
  const theory = levelTheoryData(options, [x0, x1]);
  const xScale = { domain: [x0, x1], nice: false, zero: false };
  const xAxis = { title: noiseAxisTitle(options.process, options.scheduleName), tickCount: 8 };
  const yEnc = { field: 'y', type: 'quantitative' as const, title: 'level kept P_ℓ = Pr[ẑ = z] at level ℓ', scale: { domain: [0, 1] } };
  const axes: LevelAxes = { x: { field: 'x', type: 'quantitative', scale: xScale, axis: xAxis }, y: yEnc };
  const dash = sourceDash(theory.length ? options.theory!.label : null);
  return {
    $schema: SCHEMA,
    title: {
      text: `Level by level at depth L = ${L}`,
      subtitle: 'Near the root P_ℓ falls sharply at the transition; near the leaves it decays smoothly',
    },
    width: WIDTH,
    height: HEIGHT,
    config: baseConfig(),
    layer: [
      errorBandLayer(data, { scale: xScale, axis: xAxis }, yEnc, { opacity: 0.18, groupBy: 'level' }),
      ...levelDataLayers(data, axes, dash, L),
      ...(theory.length ? [levelTheoryLayer(theory, axes, dash)] : []),
      ...markerLayers(options, { scale: xScale, axis: xAxis }),
    ],
  } as TopLevelSpec;
}
