import { resolve } from 'node:path';
import { ParamError } from '../core/errors.ts';
import type { CellStats } from '../experiment/cell.ts';
import { writeAtomic } from '../core/atomicWrite.ts';
import { mergeResults, type MergeRules } from '../core/resultsFile.ts';
import type { SweepCell } from './cells.ts';
import { duplicatesMessage, headerDifference, makeHeader, scanSweepFile, SWEEP_RESULTS, type SweepHeader } from './resultsFile.ts';

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
  const inputs = paths.map((path) => ({ name: path, scan: scanSweepFile(path) }));
  const merged = mergeResults(SWEEP_RESULTS, inputs, SWEEP_MERGE, fail);
  const path = resolve(out);
  writeAtomic(path, merged.text, out);
  return { path, header: merged.header, cells: merged.values };
}

const SWEEP_MERGE: MergeRules<SweepHeader, SweepCell, string, CellStats> = {
  input({ name, scan }, first) {
    if (scan.halfWrittenLast) return `${name} ends in a half-written line (finish it with --resume first)`;
    if (scan.duplicates.length > 0) return `${name}: ${duplicatesMessage(scan)}`;
    const diff = headerDifference(first.scan.header, scan.header);
    return diff === null ? null : `${name} and ${first.name} hold different sweeps (${diff})`;
  },
  twice: (key, first, second) => `cell ${key} appears twice (in ${first} and ${second})`,
  complete(missing, all, inputs) {
    if (missing.length === 0) return null;
    // Name the shards the missing cells belong to, when the inputs share one shard count.
    const counts = new Set(inputs.map((s) => s.scan.header.shard?.count ?? 0));
    let hint = '';
    if (counts.size === 1 && !counts.has(0)) {
      const n = [...counts][0];
      const given = new Map(inputs.map((s) => [s.scan.header.shard!.index, s.name]));
      const shards = [...new Set(missing.map((c) => c.index % n))];
      hint = ` (${shards
        .slice(0, 5)
        .map((i) => (given.has(i) ? `${given.get(i)} (shard ${i}/${n}) is unfinished: resume it` : `shard ${i}/${n} was not given`))
        .join('; ')})`;
    }
    return `${missing.length} of ${all.length} cells missing, e.g. ${missing
      .slice(0, 3)
      .map((c) => c.key)
      .join(', ')}${hint}`;
  },
  merged: (lead) => makeHeader(lead.run, lead.config, null),
};
