import { readFileSync } from 'node:fs';

/**
 * Advance widths of a TrueType font, read from its `cmap` and `hmtx` tables: enough to measure a
 * line of text the way the PNG renderer will draw it (kerning aside), with no canvas.
 */
export interface FontMetrics {
  /** Width in pixels of `text` at `size` px. */
  width(text: string, size: number): number;
}

/** Parses the font file at `path` (TrueType/OpenType with a format 4 or 12 Unicode cmap). */
export function loadFontMetrics(path: string): FontMetrics {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tables = new Map<string, number>();
  const numTables = view.getUint16(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    tables.set(buf.toString('latin1', rec, rec + 4), view.getUint32(rec + 8));
  }
  const table = (tag: string): number => {
    const at = tables.get(tag);
    if (at === undefined) throw new Error(`font ${path} has no ${tag} table`);
    return at;
  };
  const unitsPerEm = view.getUint16(table('head') + 18);
  const numberOfHMetrics = view.getUint16(table('hhea') + 34);
  const hmtx = table('hmtx');
  const advance = (glyph: number): number => view.getUint16(hmtx + 4 * Math.min(glyph, numberOfHMetrics - 1));
  const glyphOf = cmapLookup(view, table('cmap'));
  const cache = new Map<number, number>();
  const advanceOf = (code: number): number => {
    let a = cache.get(code);
    if (a === undefined) {
      a = advance(glyphOf(code));
      cache.set(code, a);
    }
    return a;
  };
  return {
    width(text, size) {
      let units = 0;
      for (const ch of text) units += advanceOf(ch.codePointAt(0)!);
      return (units * size) / unitsPerEm;
    },
  };
}

/** Code point → glyph index from the best Unicode subtable (format 12 preferred, then 4). */
function cmapLookup(view: DataView, cmap: number): (code: number) => number {
  const count = view.getUint16(cmap + 2);
  let f12 = -1;
  let f4 = -1;
  for (let i = 0; i < count; i++) {
    const rec = cmap + 4 + 8 * i;
    const platform = view.getUint16(rec);
    const encoding = view.getUint16(rec + 2);
    const sub = cmap + view.getUint32(rec + 4);
    const format = view.getUint16(sub);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    if (format === 12 && f12 < 0) f12 = sub;
    if (format === 4 && f4 < 0) f4 = sub;
  }
  if (f12 >= 0) {
    const groups = view.getUint32(f12 + 12);
    return (code) => {
      let lo = 0;
      let hi = groups - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const g = f12 + 16 + 12 * mid;
        const start = view.getUint32(g);
        const end = view.getUint32(g + 4);
        if (code < start) hi = mid - 1;
        else if (code > end) lo = mid + 1;
        else return view.getUint32(g + 8) + (code - start);
      }
      return 0;
    };
  }
  if (f4 < 0) throw new Error('font has no Unicode cmap');
  const segCount = view.getUint16(f4 + 6) / 2;
  const ends = f4 + 14;
  const starts = ends + 2 * segCount + 2;
  const deltas = starts + 2 * segCount;
  const ranges = deltas + 2 * segCount;
  return (code) => {
    if (code > 0xffff) return 0;
    for (let s = 0; s < segCount; s++) {
      if (code > view.getUint16(ends + 2 * s)) continue;
      const start = view.getUint16(starts + 2 * s);
      if (code < start) return 0;
      const delta = view.getInt16(deltas + 2 * s);
      const rangeOffset = view.getUint16(ranges + 2 * s);
      if (rangeOffset === 0) return (code + delta) & 0xffff;
      const glyph = view.getUint16(ranges + 2 * s + rangeOffset + 2 * (code - start));
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}
