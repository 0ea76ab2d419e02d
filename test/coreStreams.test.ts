/** The streamed writers of src/core/ (hierdiff sample's JSON and CSV): the bytes of the one-string writers, in pieces. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvField, writeCsvRow } from '../src/core/csv.ts';
import { writeJson, writeJsonDocument } from '../src/core/jsonStream.ts';
import { ChunkedWriter, StreamedFile } from '../src/core/textSink.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-streams-');

/** Everything written, and the pieces it came in. */
function collect(chunkChars = 8): { w: ChunkedWriter; text: () => string; pieces: string[] } {
  const pieces: string[] = [];
  const w = new ChunkedWriter((t) => pieces.push(t), chunkChars);
  return { w, pieces, text: () => (w.flush(), pieces.join('')) };
}

describe('ChunkedWriter', () => {
  it('hands the sink pieces of about the chunk size, nothing lost', () => {
    const { w, pieces, text } = collect(4);
    for (const s of ['ab', 'c', 'defg', 'h']) w.write(s);
    expect(pieces).toEqual(['abcdefg']);
    expect(text()).toBe('abcdefgh');
    w.flush();
    expect(pieces).toHaveLength(2);
  });
});

describe('writeJson and writeJsonDocument: JSON.stringify(value, null, 2) in pieces', () => {
  const values: unknown[] = [
    0,
    -0,
    1.5e-7,
    'a "quoted"\nline',
    null,
    true,
    [],
    {},
    [1, 2, 3],
    [NaN, Infinity, 2],
    { a: 1, b: [1, [2, 3], { c: 'x' }], d: undefined, e: { f: [] } },
    [[], [[]], { g: null }],
    { date: new Date(0) },
  ];
  it.each(values.map((v) => [JSON.stringify(v) ?? 'undefined', v]))('%s', (_label, value) => {
    const { w, text } = collect();
    writeJson(w, value, '');
    expect(text()).toBe(JSON.stringify(value, null, 2));
  });

  it('typed arrays are written as arrays of their numbers', () => {
    const { w, text } = collect();
    writeJson(w, { t: new Int32Array([3, -1, 7]), u: new Float64Array(0) }, '');
    expect(text()).toBe(JSON.stringify({ t: [3, -1, 7], u: [] }, null, 2));
  });

  it('long arrays in several writes, the same bytes', () => {
    const xs = Array.from({ length: 10000 }, (_, i) => i * 7);
    const { w, pieces, text } = collect(1 << 12);
    writeJson(w, { xs }, '  ');
    expect(text()).toBe(JSON.stringify({ xs }, null, 2).replace(/\n/g, '\n  '));
    expect(pieces.length).toBeGreaterThan(1);
  });

  it('a document whose last field is streamed from a generator', () => {
    const items = [
      { class: 1, tokens: new Int32Array([0, 1]), levels: [new Int32Array([1]), new Int32Array([0, 1])] },
      { class: 0, tokens: new Int32Array([2, 2]), levels: [] },
    ];
    const plain = items.map((d) => ({ class: d.class, tokens: [...d.tokens], levels: d.levels.map((l) => [...l]) }));
    const head = { run: { tool: 'hierdiff' }, parameters: { v: 4 } };
    const { w, text } = collect();
    writeJsonDocument(
      w,
      head,
      'data',
      (function* () {
        yield* items;
      })(),
    );
    expect(text()).toBe(`${JSON.stringify({ ...head, data: plain }, null, 2)}\n`);
    const empty = collect();
    writeJsonDocument(empty.w, head, 'data', []);
    expect(empty.text()).toBe(`${JSON.stringify({ ...head, data: [] }, null, 2)}\n`);
  });
});

describe('CSV', () => {
  it('fields quoted only where RFC 4180 needs it', () => {
    expect(['x1', 3, 'a,b', 'say "hi"', 'two\nlines'].map(csvField)).toEqual(['x1', '3', '"a,b"', '"say ""hi"""', '"two\nlines"']);
  });

  it('a row of many fields in several writes, the same bytes as a join', () => {
    const fields = Int32Array.from({ length: 9000 }, (_, i) => i % 17);
    const { w, pieces, text } = collect(1 << 30);
    const writes: string[] = [];
    writeCsvRow({ write: (t) => (writes.push(t), w.write(t)) }, fields);
    expect(text()).toBe(`${Array.from(fields).join(',')}\n`);
    expect(writes.length).toBe(4);
    expect(pieces).toHaveLength(1);
  });
});

describe('StreamedFile', () => {
  it('appears under its name only at commit', () => {
    const target = join(dir, 'sub', 'out.json');
    const f = new StreamedFile('out', target);
    f.writer.write('hello');
    f.writer.flush();
    expect(existsSync(target)).toBe(false);
    f.commit();
    expect(readFileSync(target, 'utf8')).toBe('hello');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['out.json']);
  });

  it('abort leaves nothing, not even the folders it made', () => {
    const target = join(dir, 'made', 'deeper', 'out.csv');
    const f = new StreamedFile('csv', target);
    f.writer.write('x');
    f.abort();
    expect(existsSync(join(dir, 'made'))).toBe(false);
  });

  it('a path that cannot be a file is a ParamError naming the option', () => {
    expect(() => new StreamedFile('csv', dir)).toThrow(/^invalid --csv /);
  });
});
