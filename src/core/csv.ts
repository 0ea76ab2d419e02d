/** CSV rows written in pieces (RFC 4180: fields quoted only when they hold a comma, quote or line break). */
import type { TextSink } from './textSink.ts';

/** Fields joined per write (bounds the strings built for rows of millions of fields). */
const FIELDS_PER_WRITE = 4096;

/** A field as CSV writes it. */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV row of `fields` and its line break, `FIELDS_PER_WRITE` fields per write. */
export function writeCsvRow(w: TextSink, fields: ArrayLike<string | number>): void {
  for (let i = 0; i < fields.length; i += FIELDS_PER_WRITE) {
    const end = Math.min(fields.length, i + FIELDS_PER_WRITE);
    const parts: string[] = [];
    for (let j = i; j < end; j++) parts.push(csvField(fields[j]));
    w.write(`${i > 0 ? ',' : ''}${parts.join(',')}`);
  }
  w.write('\n');
}
