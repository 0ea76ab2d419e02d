import { readResults, scanResults, type Refuse, type ResultsSchema, type ScannedResults } from '../core/resultsFile.ts';
import { checkShard, type Shard } from '../core/shard.ts';
import { CELL_CONDITION_FIELDS, type CellStats } from '../experiment/cell.ts';
import { validateSweepConfig, configDifference, type SweepConfig } from './config.ts';
import { cellKey, shardCells, sweepCells, type SweepCell } from './cells.ts';

/** Format tag of a results file's header. */
export const SWEEP_FORMAT = 'hierdiff.sweep/1';

/** What made a results file: the tool, its version, and the command (options that only say how to run, not what, are left out by the CLI). */
export interface SweepRunInfo {
  tool: 'hierdiff';
  version: string;
  command: string;
}

/**
 * First line of a results file (JSON lines). `cells` is the number of cell lines the file holds
 * when finished: the whole sweep, or one shard's share of it.
 */
export interface SweepHeader {
  type: 'header';
  format: typeof SWEEP_FORMAT;
  run: SweepRunInfo;
  config: SweepConfig;
  cells: number;
  /** The shard this file holds, or null for the whole sweep (also after a merge). */
  shard: Shard | null;
}

/** One line per finished cell. */
export interface SweepCellLine {
  type: 'cell';
  key: string;
  stats: CellStats;
}

export function makeHeader(run: SweepRunInfo, config: SweepConfig, shard: Shard | null): SweepHeader {
  return { type: 'header', format: SWEEP_FORMAT, run, config, cells: shardCells(sweepCells(config), shard).length, shard };
}

/** A cell's line, without its newline; numbers in JavaScript's shortest round-trip form. */
export function cellLine(stats: CellStats): string {
  const line: SweepCellLine = { type: 'cell', key: cellKey(stats), stats };
  return JSON.stringify(line);
}

/** Why two headers do not describe the same sweep (format, version or config), or null. */
export function headerDifference(a: SweepHeader, b: SweepHeader): string | null {
  if (a.run.version !== b.run.version) return `written by hierdiff ${a.run.version} vs ${b.run.version}`;
  const d = configDifference(a.config, b.config);
  return d === null ? null : `config differs (${d})`;
}

/** A sweep's results file as read (src/core/resultsFile.ts): `found` holds each finished cell's stats. */
export type ScannedFile = ScannedResults<SweepHeader, SweepCell, string, CellStats>;

function parseHeader(h: unknown, bad: Refuse): SweepHeader {
  const o = h as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.type !== 'header') bad('line 1 is not a header');
  if (o.format !== SWEEP_FORMAT) bad(`unsupported format ${JSON.stringify(o.format)} (expected "${SWEEP_FORMAT}")`);
  const run = o.run as Record<string, unknown> | undefined;
  if (typeof run !== 'object' || run === null || typeof run.version !== 'string' || typeof run.command !== 'string') bad('header has no run info');
  let config: SweepConfig;
  let shard: Shard | null;
  try {
    config = validateSweepConfig(o.config);
    shard = o.shard === null ? null : checkShard(o.shard as Shard);
  } catch (e) {
    bad(`header: ${(e as Error).message}`);
  }
  const header = makeHeader({ tool: 'hierdiff', version: run.version, command: run.command }, config, shard);
  if (o.cells !== header.cells) bad(`header says ${String(o.cells)} cells, its config and shard make ${header.cells}`);
  return header;
}

const MOMENT_FIELDS = ['count', 'sum', 'sumSq'] as const;
const STATS_FIELDS = new Set([
  'grammarSeed',
  ...CELL_CONDITION_FIELDS,
  'classMarginal',
  'classSampled',
  'levelMarginal',
  'levelSampled',
  'chiNumerator',
  'chiDenominator',
  'correlationByDistance',
  'correlationByTreeDistance',
]);
const LINE_FIELDS = new Set(['type', 'key', 'stats']);

/**
 * Checks a cell's stats structurally and against its cell: exactly the fields CellStats has,
 * every number finite (a `null`, a string, or `1e999`, which JSON reads as Infinity, would
 * silently change every answer drawn from the file), moments with a whole non-negative count,
 * L + 1 levels (a sweep always computes marginals), and the correlation arrays (tuple^L
 * distances, L + 1 tree distances) exactly when the config asks for them.
 */
function checkStats(bad: Refuse, lineNo: number, stats: unknown, cell: SweepCell, config: SweepConfig): void {
  const at: (what: string) => never = (what) => bad(`line ${lineNo}: cell ${cell.key}: ${what}`);
  if (typeof stats !== 'object' || stats === null || Array.isArray(stats)) bad(`line ${lineNo}: no stats`);
  const s = stats as Record<string, unknown>;
  if (s.grammarSeed !== cell.grammarSeed || s.depth !== cell.depth || s.process !== cell.process || s.noise !== cell.noise) {
    bad(`line ${lineNo}: stats do not belong to cell ${cell.key}`);
  }
  if (s.samples !== cell.samples || s.trajectories !== config.trajectories) {
    bad(`line ${lineNo}: cell ${cell.key} has ${String(s.samples)} samples × ${String(s.trajectories)} trajectories (expected ${cell.samples} × ${config.trajectories})`);
  }
  for (const k of Object.keys(s)) if (!STATS_FIELDS.has(k)) at(`unexpected field stats.${k}`);
  const finite = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) at(`stats.${name} is ${v === undefined ? 'missing' : (JSON.stringify(v) ?? String(v))} (expected a finite number)`);
  };
  const moments = (name: string, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) at(`stats.${name} is ${v === undefined ? 'missing' : 'not {count, sum, sumSq}'}`);
    const m = v as Record<string, unknown>;
    for (const k of Object.keys(m)) if (!(MOMENT_FIELDS as readonly string[]).includes(k)) at(`unexpected field stats.${name}.${k}`);
    for (const k of MOMENT_FIELDS) finite(`${name}.${k}`, m[k]);
    // The rules summariseCells applies (src/experiment/summary.ts): a written cell has data, and
    // its per-datum values lie in [0, 1], so 0 <= sum, sumSq <= count.
    const count = m.count as number;
    if (!Number.isInteger(count) || count < 1 || count > Number.MAX_SAFE_INTEGER) at(`stats.${name}.count is ${String(m.count)} (expected a whole number >= 1: a cell without data has no statistics)`);
    for (const k of ['sum', 'sumSq'] as const) {
      const x = m[k] as number;
      if (!(x >= 0 && x <= count)) at(`stats.${name}.${k} is ${String(x)} (expected a number in [0, count = ${count}])`);
    }
  };
  const array = (name: string, v: unknown, length: number, each: (name: string, v: unknown) => void) => {
    if (!Array.isArray(v)) at(`stats.${name} is ${v === undefined ? 'missing' : 'not an array'} (expected ${length} entries)`);
    if (v.length !== length) at(`stats.${name} has ${v.length} entries (expected ${length} for depth ${cell.depth})`);
    v.forEach((x, i) => each(`${name}[${i}]`, x));
  };
  finite('control', s.control);
  moments('classMarginal', s.classMarginal);
  moments('classSampled', s.classSampled);
  const L = cell.depth;
  array('levelMarginal', s.levelMarginal, L + 1, moments);
  array('levelSampled', s.levelSampled, L + 1, moments);
  finite('chiNumerator', s.chiNumerator);
  finite('chiDenominator', s.chiDenominator);
  const correlations = config.correlations && config.trajectories >= 2;
  for (const [name, length] of [
    ['correlationByDistance', config.tuple ** L],
    ['correlationByTreeDistance', L + 1],
  ] as const) {
    if (correlations) array(name, s[name], length, finite);
    else if (s[name] !== undefined) at(`unexpected field stats.${name} (the config does not ask for correlations)`);
  }
}

/** A cell's line: its shape, its cell (of this sweep and shard) and its stats. */
function parseLine(value: unknown, lineNo: number, header: SweepHeader, cells: ReadonlyMap<string, SweepCell>, bad: Refuse): { key: string; value: CellStats } {
  const parsed = value as SweepCellLine;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || parsed.type !== 'cell' || typeof parsed.key !== 'string') bad(`line ${lineNo} is not a cell line`);
  for (const k of Object.keys(parsed)) if (!LINE_FIELDS.has(k)) bad(`line ${lineNo}: unexpected field ${k} in a cell line`);
  const cell = cells.get(parsed.key);
  if (!cell) bad(`line ${lineNo}: cell ${parsed.key} is not part of this ${header.shard ? `shard (${header.shard.index}/${header.shard.count})` : 'sweep'}`);
  checkStats(bad, lineNo, parsed.stats, cell, header.config);
  return { key: parsed.key, value: parsed.stats };
}

/** Why a file with duplicate cell lines is refused (outside `--resume`, which repairs it). */
export function duplicatesMessage(scan: ScannedFile): string {
  const d = scan.duplicates[0];
  const more = scan.duplicates.length > 1 ? ` and ${scan.duplicates.length - 1} more` : '';
  return `cell ${d.key} appears twice (lines ${d.lines.join(' and ')})${more}, with the same stats (repair the file with the sweep command and --resume)`;
}

/**
 * A sweep's results file: a header, then cell lines of this sweep and shard, each with
 * well-formed stats (see checkStats). A cell whose line appears again with the same text is kept
 * once (resume repairs the file); the same cell with different text is refused.
 */
export const SWEEP_RESULTS: ResultsSchema<SweepHeader, SweepCell, string, CellStats> = {
  what: 'results file',
  header: parseHeader,
  units: (header) => shardCells(sweepCells(header.config), header.shard),
  keyOf: (cell) => cell.key,
  line: parseLine,
  twice: (key, _stats, [first, again], same) =>
    same ? null : `cell ${key} appears twice with different stats (lines ${first} and ${again}); keep the right one and delete the other, or start the file afresh`,
  duplicates: duplicatesMessage,
  unfinished: {
    halfWritten: 'the last line is half-written (resume the sweep with --resume to finish it)',
    missing: (missing, expected) =>
      `${missing.length} of ${expected.length} cells missing, e.g. ${missing
        .slice(0, 3)
        .map((c) => c.key)
        .join(', ')} (resume the sweep with --resume to finish it)`,
    shard: (header, expected) =>
      `it holds shard ${header.shard!.index}/${header.shard!.count} of a sweep, ${expected.length} of its ${sweepCells(header.config).length} cells (merge the shards with hierdiff merge, or give --partial to draw this shard alone)`,
  },
};

/**
 * Reads a results file line by line and checks it (see {@link SWEEP_RESULTS}). A last line
 * without its newline (a write cut short by a crash) is reported, not parsed. Lines of a CRLF
 * file are read without their `\r`. Throws a ParamError (param `results`) naming the file and line.
 */
export function scanSweepFile(path: string): ScannedFile {
  return scanResults(SWEEP_RESULTS, path);
}

/** A results file as read by {@link readSweepFile}. */
export interface SweepFile {
  header: SweepHeader;
  /** Finished cells in canonical order. */
  cells: CellStats[];
  /** Keys of the cells the file still lacks (empty for a finished file). */
  missing: string[];
}

/**
 * Reads and checks a results file (a finished sweep, a shard, or a merge). By default it must
 * be finished: every cell of its sweep (or shard) present, no half-written line. With
 * `partial: true` it may lack cells and a half-written last line is ignored, e.g. to draw
 * figures while a sweep still runs. Throws a ParamError (param `results`).
 */
export function readSweepFile(path: string, options: { partial?: boolean } = {}): SweepFile {
  const read = readResults(SWEEP_RESULTS, path, options.partial ?? false);
  return { header: read.header, cells: read.values, missing: read.missing.map((c) => c.key) };
}
