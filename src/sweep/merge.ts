import { resolve } from 'node:path';
import { ParamError } from '../core/errors.ts';
import type { CellStats } from '../experiment/cell.ts';
import { writeAtomic } from '../core/atomicWrite.ts';
import { sweepCells } from './cells.ts';
import { duplicatesMessage, fileText, headerDifference, headerLine, makeHeader, scanSweepFile, type ScannedFile, type SweepHeader } from './resultsFile.ts';

export interface MergeResult {
  /** Absolute path of the merged file. */
  path: string;
  header: SweepHeader;
  /** Every cell of the sweep, in canonical order. */
  cells: CellStats[];
}

function fail(message: string): never {
  throw new ParamError('merge', `cannot merge: ${message}`);
}

/**
 * Joins results files of one sweep (typically its shards) into one file, byte-identical to the
 * file an unsharded run of the same command writes: the header of the lowest shard (its run info;
 * `shard: null`, `cells` = the whole sweep), then every cell in canonical order.
 *
 * Checks that every file holds the same sweep (tool version and config), that no file is
 * half-written, that no cell appears twice (within a file or across files) and that none is missing; otherwise throws a
 * ParamError naming the files or cells, and writes nothing. `out` may be one of the inputs.
 */
export function mergeSweepFiles(paths: readonly string[], out: string): MergeResult {
  if (paths.length === 0) fail('no input files');
  const scans: { path: string; scan: ScannedFile }[] = paths.map((path) => ({ path, scan: scanSweepFile(path) }));
  const first = scans[0];
  for (const { path, scan } of scans) {
    if (scan.halfWrittenLast) fail(`${path} ends in a half-written line (finish it with --resume first)`);
    if (scan.duplicates.length > 0) fail(`${path}: ${duplicatesMessage(scan)}`);
    const diff = headerDifference(first.scan.header, scan.header);
    if (diff !== null) fail(`${path} and ${first.path} hold different sweeps (${diff})`);
  }
  const config = first.scan.header.config;
  const all = sweepCells(config);
  const from = new Map<string, { path: string; text: string; stats: CellStats }>();
  for (const { path, scan } of scans) {
    for (const [key, found] of scan.found) {
      const other = from.get(key);
      if (other) fail(`cell ${key} appears twice (in ${other.path} and ${path})`);
      from.set(key, { path, text: found.text, stats: found.stats });
    }
  }
  const missing = all.filter((c) => !from.has(c.key));
  if (missing.length > 0) {
    // Name the shards the missing cells belong to, when the inputs share one shard count.
    const counts = new Set(scans.map((s) => s.scan.header.shard?.count ?? 0));
    let hint = '';
    if (counts.size === 1 && !counts.has(0)) {
      const n = [...counts][0];
      const given = new Map(scans.map((s) => [s.scan.header.shard!.index, s.path]));
      const shards = [...new Set(missing.map((c) => c.index % n))];
      hint = ` (${shards
        .slice(0, 5)
        .map((i) => (given.has(i) ? `${given.get(i)} (shard ${i}/${n}) is unfinished: resume it` : `shard ${i}/${n} was not given`))
        .join('; ')})`;
    }
    fail(`${missing.length} of ${all.length} cells missing, e.g. ${missing.slice(0, 3).map((c) => c.key).join(', ')}${hint}`);
  }
  // The lowest shard's run info (the shard commands' recorded commands agree when made by the CLI).
  const lead = [...scans].sort((a, b) => (a.scan.header.shard?.index ?? -1) - (b.scan.header.shard?.index ?? -1))[0];
  const header = makeHeader(lead.scan.header.run, config, null);
  const path = resolve(out);
  writeAtomic(path, fileText(headerLine(header), all.map((c) => from.get(c.key)!.text)), out);
  return { path, header, cells: all.map((c) => from.get(c.key)!.stats) };
}
