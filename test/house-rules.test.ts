// House rules that a formatter cannot check: no file of src/ over 350 lines, no function over 80.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sizeViolations, treeSizeViolations } from './helpers/sizes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('sizes in src/', () => {
  it('keeps every file to 350 lines and every function to 80', () => {
    const found = treeSizeViolations(ROOT, 'src');
    expect(found, `\n${found.join('\n')}\n`).toEqual([]);
  });

  it('finds a long function and a long file (the check can fail)', () => {
    const body = Array.from({ length: 81 }, (_, i) => `  const a${i} = ${i};`).join('\n');
    const text = `export function tooLong(): void {\n${body}\n}\nconst short = () => 1;\n`;
    expect(sizeViolations('/r', text, '/r/src/x.ts')).toEqual(['src/x.ts:1 tooLong: 83 lines (at most 80)']);
    expect(sizeViolations('/r', text, '/r/src/x.ts', { file: 50, fn: 100 })).toEqual(['src/x.ts: 84 lines (at most 50)']);
    const method = `class C {\n  m(): void {\n${body}\n  }\n}\n`;
    expect(sizeViolations('/r', method, '/r/src/y.ts')).toEqual(['src/y.ts:2 m: 83 lines (at most 80)']);
  });
});
