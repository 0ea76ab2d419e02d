/**
 * JSON written in pieces, byte for byte as `JSON.stringify(value, null, 2)` writes it, for outputs
 * too large to hold as one string (hierdiff sample's data with their latent trees). Typed arrays
 * are written as arrays of their numbers (JSON.stringify would write them as objects).
 */
import type { TextSink } from './textSink.ts';

/** Items of an array written per line between two writes to the sink (bounds the strings built). */
const ITEMS_PER_WRITE = 4096;

/** A value the writer takes: JSON data, with typed arrays where arrays of numbers go. */
export type StreamedJson = unknown;

function isNumberArray(value: unknown): value is ArrayLike<number> {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** An array of numbers with its opening bracket at indent `pad`, `ITEMS_PER_WRITE` items per write. */
function writeNumbers(w: TextSink, values: ArrayLike<number>, pad: string): void {
  if (values.length === 0) {
    w.write('[]');
    return;
  }
  const inner = `${pad}  `;
  w.write('[\n');
  for (let i = 0; i < values.length; i += ITEMS_PER_WRITE) {
    const end = Math.min(values.length, i + ITEMS_PER_WRITE);
    const items: string[] = [];
    for (let j = i; j < end; j++) items.push(`${inner}${Number.isFinite(values[j]) ? String(values[j]) : 'null'}`);
    w.write(items.join(',\n'));
    w.write(end < values.length ? ',\n' : '\n');
  }
  w.write(`${pad}]`);
}

/** Writes `value` as JSON.stringify(value, null, 2) does, with its first character at indent `pad`. */
export function writeJson(w: TextSink, value: StreamedJson, pad = ''): void {
  if (isNumberArray(value)) return writeNumbers(w, value, pad);
  if (Array.isArray(value)) {
    if (value.every((x) => typeof x === 'number')) return writeNumbers(w, value as number[], pad);
    writeItems(w, value, pad);
    return;
  }
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
    if (entries.length === 0) {
      w.write('{}');
      return;
    }
    const inner = `${pad}  `;
    w.write('{\n');
    entries.forEach(([key, v], i) => {
      w.write(`${inner}${JSON.stringify(key)}: `);
      writeJson(w, v, inner);
      w.write(i < entries.length - 1 ? ',\n' : '\n');
    });
    w.write(`${pad}}`);
    return;
  }
  // Scalars (and values with toJSON) as JSON.stringify writes them, re-indented to `pad`.
  w.write((JSON.stringify(value, null, 2) ?? 'null').replace(/\n/g, `\n${pad}`));
}

/** The items of an array, one per line, each written as it comes (an iterable is never collected). */
function writeItems(w: TextSink, items: Iterable<StreamedJson>, pad: string): void {
  const inner = `${pad}  `;
  let first = true;
  for (const item of items) {
    w.write(first ? `[\n${inner}` : `,\n${inner}`);
    first = false;
    writeJson(w, item === undefined || typeof item === 'function' ? null : item, inner);
  }
  w.write(first ? '[]' : `\n${pad}]`);
}

/**
 * A JSON document (with its final newline) whose last field `field` is an array of `items`,
 * written item by item: the same bytes as `JSON.stringify({ ...head, [field]: [...items] }, null, 2) + '\n'`.
 */
export function writeJsonDocument(w: TextSink, head: Record<string, StreamedJson>, field: string, items: Iterable<StreamedJson>): void {
  const { [field]: _, ...rest } = head;
  const start = JSON.stringify({ ...rest, [field]: [] }, null, 2);
  const tail = '[]\n}';
  // The field is last and empty, so the document ends with it: cut there and stream the items.
  w.write(start.slice(0, -tail.length));
  writeItems(w, items, '  ');
  w.write('\n}\n');
}
