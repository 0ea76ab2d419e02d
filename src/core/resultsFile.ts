import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeAtomic } from './atomicWrite.ts';
import { ParamError } from './errors.ts';
import { acquireLock, releaseOnExit } from './fileLock.ts';
import { readJsonLines } from './jsonLines.ts';
import type { Shard } from './shard.ts';

/**
 * Resumable results files (JSON lines), one mechanism for every experiment: a header line, then
 * one line per finished unit (a sweep's cell, an image run's (image, step)), appended and fsynced
 * as units finish, rewritten in canonical order when the last one is done; one writer at a time
 * (the lock `<file>.lock`), resume, shards and merge. An experiment only gives its line schema.
 */

/** What every results header holds besides its experiment's fields. */
export interface ResultsHeader {
  type: 'header';
  format: string;
  run: { tool: 'hierdiff'; version: string; command: string };
  /** The shard the file holds, or null for the whole run (also after a merge). */
  shard: Shard | null;
}

/** Throws a one-line ParamError (param `results`) naming the file being read. */
export type Refuse = (message: string) => never;

/** A unit found in a file: its value, its line's text as stored, and its line number. */
export interface FoundUnit<V> {
  value: V;
  text: string;
  line: number;
}

/** A results file as read: the header, its units in canonical order, and the finished ones. */
export interface ScannedResults<H, U, K, V> {
  header: H;
  /** The header line's text as stored. */
  headerText: string;
  /** The units the header's run and shard call for, in canonical order. */
  expected: U[];
  found: Map<K, FoundUnit<V>>;
  /** Units whose line appears more than once with the same text (kept once in `found`): two runs on one file, killed together, leave these. */
  duplicates: { key: K; lines: number[] }[];
  /** Byte length of the complete lines (a half-written last line starts here). */
  completeBytes: number;
  /** True when the file ends in a line without its newline (a write cut short). */
  halfWrittenLast: boolean;
}

/** What one experiment's results files hold: its header, its units and their lines. */
export interface ResultsSchema<H extends ResultsHeader, U, K, V> {
  /** How messages name such a file ("results file", "image results file"). */
  readonly what: string;
  /** Checks the parsed first line, refusing through `bad`; returns the header. */
  header(value: unknown, bad: Refuse): H;
  /** The units `header` calls for (its shard's; every unit for `shard: null`), in canonical order. */
  units(header: H): U[];
  keyOf(unit: U): K;
  /** Checks a unit line, one of `units` (the header's); returns the unit's key and the line's value. */
  line(value: unknown, lineNo: number, header: H, units: ReadonlyMap<K, U>, bad: Refuse): { key: K; value: V };
  /** Why a unit's second line is refused (`same`: the same text as its first), or null to keep one copy. */
  twice(key: K, value: V, lines: [number, number], same: boolean): string | null;
  /** Why a file with duplicate lines is refused outside a resume (which repairs it). */
  duplicates(scan: ScannedResults<H, U, K, V>): string;
  /** Why a file is not finished, for readers that need it finished. */
  unfinished: {
    halfWritten: string;
    missing(missing: U[], expected: U[]): string;
    /** A shard is part of a run: drawn alone it would look like the whole run. */
    shard(header: H, expected: U[], path: string): string;
  };
}

function refuser(what: string, path: string): Refuse {
  return (message) => {
    throw new ParamError('results', `invalid ${what} ${path}: ${message}`);
  };
}

/**
 * Reads a results file line by line and checks it against its schema: a header, then lines of
 * the header's units. A unit whose line appears again is refused or kept once and listed in
 * `duplicates` (the schema says which). A last line without its newline (a write cut short) is
 * reported, not parsed. Throws a ParamError (param `results`) naming the file and line.
 */
export function scanResults<H extends ResultsHeader, U, K, V>(schema: ResultsSchema<H, U, K, V>, path: string): ScannedResults<H, U, K, V> {
  const bad = refuser(schema.what, path);
  const { headerText, lines, completeBytes, halfWrittenLast } = readJsonLines(path, schema.what);
  let parsed: unknown;
  try {
    parsed = JSON.parse(headerText);
  } catch {
    bad('line 1 is not JSON');
  }
  const header = schema.header(parsed, bad);
  const expected = schema.units(header);
  const byKey = new Map(expected.map((u) => [schema.keyOf(u), u]));
  const found = new Map<K, FoundUnit<V>>();
  const duplicates = new Map<K, number[]>();
  for (const { line: lineNo, text, value: v } of lines) {
    const { key, value } = schema.line(v, lineNo, header, byKey, bad);
    const seen = found.get(key);
    if (seen) {
      const refusal = schema.twice(key, value, [seen.line, lineNo], seen.text === text);
      if (refusal !== null) bad(refusal);
      duplicates.set(key, [...(duplicates.get(key) ?? [seen.line]), lineNo]);
      continue;
    }
    found.set(key, { value, text, line: lineNo });
  }
  return { header, headerText, expected, found, duplicates: [...duplicates].map(([key, l]) => ({ key, lines: l })), completeBytes, halfWrittenLast };
}

/** A results file as a reader wants it: its finished units' values in canonical order and the units it lacks. */
export interface ReadResults<H, U, V> {
  header: H;
  values: V[];
  missing: U[];
  expected: U[];
}

/**
 * Reads and checks a results file (a finished run, a shard, or a merge). By default it must be
 * finished: every unit of its run (or shard) present, no half-written line, not a shard. With
 * `partial` it may lack units and a half-written last line is ignored (e.g. to draw figures while
 * a run goes on). Throws a ParamError (param `results`).
 */
export function readResults<H extends ResultsHeader, U, K, V>(schema: ResultsSchema<H, U, K, V>, path: string, partial = false): ReadResults<H, U, V> {
  const scan = scanResults(schema, path);
  const bad = refuser(schema.what, path);
  if (scan.duplicates.length > 0) bad(schema.duplicates(scan));
  const missing = scan.expected.filter((u) => !scan.found.has(schema.keyOf(u)));
  if (!partial) {
    if (scan.halfWrittenLast) bad(schema.unfinished.halfWritten);
    if (missing.length > 0) bad(schema.unfinished.missing(missing, scan.expected));
    if (scan.header.shard) bad(schema.unfinished.shard(scan.header, scan.expected, path));
  }
  const values = scan.expected.filter((u) => scan.found.has(schema.keyOf(u))).map((u) => scan.found.get(schema.keyOf(u))!.value);
  return { header: scan.header, values, missing, expected: scan.expected };
}

/** The text of a finished file: the header line, then the units' lines in canonical order, each with its newline. */
export function resultsText(headerText: string, linesInOrder: readonly string[]): string {
  return [headerText, ...linesInOrder].map((l) => `${l}\n`).join('');
}

export interface OpenResultsOptions<H> {
  /** Absolute path of the results file. */
  path: string;
  /** The path as the user gave it, for messages. */
  shownAs: string;
  /** The header of a fresh file. */
  header: H;
  /** Continue an existing file: keep its finished units, drop a half-written last line. */
  resume: boolean;
  /** Replace an existing file. */
  overwrite: boolean;
  /** Why an existing file is refused without resume or overwrite (param `out`). */
  exists: string;
  /** Throws a ParamError when the file to resume holds another run (checked under the lock). */
  checkResume(stored: H): void;
  /** On resume, write `header` over the stored one (the resuming command is recorded) instead of keeping the one the file started with. */
  replaceHeader?: boolean;
}

/** A results file being written; see {@link withResultsFile}. */
export interface ResultsWriter<H, K, V> {
  readonly path: string;
  /** The header the file keeps: on resume the stored one, unless replaced. */
  readonly header: H;
  /** Units found finished in the file (resume). */
  readonly resumed: number;
  has(key: K): boolean;
  /** Writes a fresh header, or on resume cuts a half-written last line (its unit runs again); then the file takes appends. */
  start(): void;
  /** Appends a finished unit's line and fsyncs it, so a crash loses at most the units in flight. */
  append(key: K, text: string, value: V): void;
  /** Every unit done: rewrites the file in canonical order, atomically (a crash here keeps the old file). Returns the units' values in that order. */
  finish(): V[];
}

/**
 * Opens the results file `options.path` for writing and runs `body` on it. Refuses an existing file
 * without resume or overwrite, then takes the lock `<path>.lock` (src/core/fileLock.ts) for the whole
 * of `body`, so two runs never write one file: the second is refused with a one-line ParamError
 * naming the holder. The lock is released when `body` ends, fails, or the process exits or gets
 * SIGINT/SIGTERM. On resume the stored file is scanned and checked under the lock; a unit whose
 * line appears twice with the same text is kept once. Nothing is written until `start`.
 */
export async function withResultsFile<H extends ResultsHeader, U, K, V, T>(
  schema: ResultsSchema<H, U, K, V>,
  options: OpenResultsOptions<H>,
  body: (file: ResultsWriter<H, K, V>) => Promise<T>,
): Promise<T> {
  const { path, shownAs } = options;
  if (existsSync(path) && !options.resume && !options.overwrite) throw new ParamError('out', options.exists);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch {
    throw new ParamError('out', `invalid output path "${shownAs}" (cannot create its folder)`);
  }
  // One run per results file: two runs on one file would both compute every unit and, killed
  // together, leave each unit twice. Held until the file is finished, failed, or the process ends.
  const lock = acquireLock(path, 'out', shownAs);
  const unhook = releaseOnExit(lock);
  let file: ReturnType<typeof openLocked<H, U, K, V>> | null = null;
  try {
    file = openLocked(schema, options);
    return await body(file.writer);
  } finally {
    file?.close();
    lock.release();
    unhook();
  }
}

function openLocked<H extends ResultsHeader, U, K, V>(schema: ResultsSchema<H, U, K, V>, options: OpenResultsOptions<H>): { writer: ResultsWriter<H, K, V>; close: () => void } {
  const { path, shownAs } = options;
  const lines = new Map<K, string>();
  const values = new Map<K, V>();
  let header = options.header;
  let headerText = JSON.stringify(header);
  let scan: ScannedResults<H, U, K, V> | null = null;
  if (options.resume && existsSync(path)) {
    scan = scanResults(schema, path);
    options.checkResume(scan.header);
    // Keep the header as first written: the run that started the file is the one it records.
    if (!options.replaceHeader) [header, headerText] = [scan.header, scan.headerText];
    for (const [key, found] of scan.found) {
      lines.set(key, found.text);
      values.set(key, found.value);
    }
  }
  const order = schema.units(header).map((u) => schema.keyOf(u));
  const inOrder = () => order.filter((k) => lines.has(k)).map((k) => lines.get(k)!);
  let fd: number | null = null;
  const close = () => {
    if (fd !== null) closeSync(fd);
    fd = null;
  };
  const writer: ResultsWriter<H, K, V> = {
    path,
    header,
    resumed: lines.size,
    has: (key) => lines.has(key),
    start() {
      // A crash mid-write leaves a line without its newline: cut it off, its unit runs again.
      if (scan && !options.replaceHeader) {
        if (scan.halfWrittenLast) truncateSync(path, scan.completeBytes);
      } else writeAtomic(path, resultsText(headerText, inOrder()), shownAs);
      fd = openSync(path, 'a');
    },
    append(key, text, value) {
      writeSync(fd!, `${text}\n`);
      fsyncSync(fd!);
      lines.set(key, text);
      values.set(key, value);
    },
    finish() {
      close();
      const missing = order.filter((k) => !lines.has(k)).length;
      if (missing > 0) throw new Error(`results file ${shownAs}: ${missing} units not done at finish`);
      writeAtomic(path, resultsText(headerText, inOrder()), shownAs);
      return order.map((k) => values.get(k)!);
    },
  };
  return { writer, close };
}

/** One input of a merge: a name for messages and the file as scanned. */
export interface MergeInput<H, U, K, V> {
  name: string;
  scan: ScannedResults<H, U, K, V>;
}

/** An experiment's merge checks, each a refusal or null; the merge refuses with `fail`. */
export interface MergeRules<H, U, K, V> {
  /** One input, against the first (half-written, duplicates, another run, …). */
  input(input: MergeInput<H, U, K, V>, first: MergeInput<H, U, K, V>): string | null;
  /** A unit in two inputs; null keeps the first copy. */
  twice(key: K, first: string, second: string): string | null;
  /** Every input read: `missing` are the units of the whole run that none holds. */
  complete(missing: U[], all: U[], inputs: MergeInput<H, U, K, V>[]): string | null;
  /** The header of the whole run, from the input of the lowest shard. */
  merged(lead: H): H;
}

/**
 * Joins results files of one run (typically its shards) into the text of one file, byte-identical
 * to the file an unsharded run writes: the merged header, then every unit's line in canonical order.
 * Throws through `fail` what the rules refuse; writes nothing (the caller writes `text`).
 */
export function mergeResults<H extends ResultsHeader, U, K, V>(
  schema: ResultsSchema<H, U, K, V>,
  inputs: MergeInput<H, U, K, V>[],
  rules: MergeRules<H, U, K, V>,
  fail: (message: string) => never,
): { header: H; text: string; values: V[] } {
  for (const input of inputs) {
    const refusal = rules.input(input, inputs[0]);
    if (refusal !== null) fail(refusal);
  }
  const from = new Map<K, { name: string; found: FoundUnit<V> }>();
  for (const { name, scan } of inputs) {
    for (const [key, found] of scan.found) {
      const other = from.get(key);
      if (other) {
        const refusal = rules.twice(key, other.name, name);
        if (refusal !== null) fail(refusal);
        continue;
      }
      from.set(key, { name, found });
    }
  }
  // The lowest shard's run info (the shards' recorded commands agree when made by the CLI).
  const lead = [...inputs].sort((a, b) => (a.scan.header.shard?.index ?? -1) - (b.scan.header.shard?.index ?? -1))[0];
  const header = rules.merged(lead.scan.header);
  const all = schema.units(header);
  const refusal = rules.complete(
    all.filter((u) => !from.has(schema.keyOf(u))),
    all,
    inputs,
  );
  if (refusal !== null) fail(refusal);
  const units = all.map((u) => from.get(schema.keyOf(u))!.found);
  return {
    header,
    text: resultsText(
      JSON.stringify(header),
      units.map((f) => f.text),
    ),
    values: units.map((f) => f.value),
  };
}
