// The layers of docs/architecture.md ("### Layers") against the code: the layer table is the source
// of truth, the imports of src/ and web/ must keep to it, and the diagram must draw it. See the
// section itself for what is counted as an import (type-only imports are).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { diagramRows, existingLayers, findCycle, forbiddenImports, parseLayers, readLayerImports, specifiersOf, unusedAllowances, type LayerImport } from './helpers/layers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { table, diagram } = parseLayers(readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8'));
const imports = readLayerImports(ROOT);

describe('the layer table of docs/architecture.md', () => {
  it('has a row for every folder and top-level file of src/ (and web/), and no row for a layer that is gone', () => {
    const layers = existingLayers(ROOT);
    const rows = [...table.keys()];
    expect(layers.filter((l) => !table.has(l)).map((l) => `${l} has no row in the layer table`)).toEqual([]);
    expect(rows.filter((r) => !layers.includes(r)).map((r) => `the layer table has a row for ${r}, which is not in src/`)).toEqual([]);
    const unknown = rows.flatMap((r) =>
      table
        .get(r)!
        .filter((to) => !table.has(to))
        .map((to) => `${r}'s row allows ${to}, which has no row`),
    );
    expect(unknown).toEqual([]);
    expect(rows.filter((r) => table.get(r)!.includes(r)).map((r) => `${r}'s row lists itself`)).toEqual([]);
  });

  it('has no cycle', () => {
    const cycle = findCycle(table);
    expect(cycle, cycle && `the layer table has a cycle: ${cycle.join(' → ')}`).toBeUndefined();
  });
});

describe('the imports of src/ and web/', () => {
  it('import only the layers their row of the table allows', () => {
    const forbidden = forbiddenImports(imports, table);
    expect(forbidden, `\n${forbidden.join('\n')}\n`).toEqual([]);
  });

  it('use every layer their row allows (the diagram draws no dependency the code lacks)', () => {
    const unused = unusedAllowances(imports, table);
    expect(unused, `\n${unused.join('\n')}\n`).toEqual([]);
  });
});

describe('the layer diagram of docs/architecture.md', () => {
  it('draws every layer once, above every layer its row allows', () => {
    const rows = diagramRows(diagram, table.keys());
    const placement = [...rows].filter(([, at]) => at.length !== 1).map(([layer, at]) => `${layer} stands on ${at.length} lines of the diagram (should be 1)`);
    expect(placement).toEqual([]);
    const upward: string[] = [];
    for (const [from, allowed] of table) {
      for (const to of allowed) {
        const [a, b] = [rows.get(from)![0], rows.get(to)![0]];
        if (a >= b) upward.push(`${from} may import ${to}, but the diagram draws ${to} ${a === b ? 'on the same row as' : 'above'} it`);
      }
    }
    expect(upward).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('sees every form of import, and none in comments or strings', () => {
    const text = [
      "import { a } from '../a/x.ts';",
      "import type { B } from '../b/x.ts';",
      "import '../c/x.ts';",
      "export * from '../d/x.ts';",
      "export { e } from '../e/x.ts';",
      "const f = await import('../f/x.ts');",
      "type G = typeof import('../g/x.ts');",
      "const h = new URL(dev ? '../h/x.mjs' : '../h/x.js', import.meta.url);",
      "// import { no } from '../comment/x.ts';",
      'const s = "import { no } from \'../string/x.ts\'";',
    ].join('\n');
    expect(specifiersOf('x.ts', text).map((s) => `${s.line} ${s.kind} ${s.specifier}`)).toEqual([
      '1 import ../a/x.ts',
      '2 import type ../b/x.ts',
      '3 import ../c/x.ts',
      '4 export from ../d/x.ts',
      '5 export from ../e/x.ts',
      '6 dynamic import ../f/x.ts',
      '7 type import() ../g/x.ts',
      '8 new URL ../h/x.mjs',
      '8 new URL ../h/x.js',
    ]);
  });

  it('reads the imports of the real tree (type-only and dynamic ones included)', () => {
    const seen = (file: string, to: string, kind: LayerImport['kind']): boolean => imports.some((i) => i.file === file && i.to === to && i.kind === kind);
    expect(seen('src/report/figures/learning.ts', 'learn/', 'import type')).toBe(true);
    expect(seen('src/cli/main.ts', 'cli/', 'dynamic import')).toBe(true);
    expect(seen('src/index.ts', 'grammar/', 'export from')).toBe(true);
    expect(seen('web/src/worker.ts', 'bp/', 'import')).toBe(true);
  });

  it('names the file, the import and the pair of layers of a forbidden import', () => {
    const bad: LayerImport = { file: 'src/core/x.ts', line: 3, specifier: '../cli/table.ts', kind: 'import', from: 'core/', to: 'cli/' };
    const own = new Map([
      ['cli/', ['core/']],
      ['core/', []],
    ]);
    expect(forbiddenImports([bad], own)).toEqual([
      "src/core/x.ts:3 imports '../cli/table.ts' (import): core/ → cli/ is not allowed by core/'s row of the layer table in docs/architecture.md (it may import nothing)",
    ]);
    expect(unusedAllowances([bad], own)).toEqual(["cli/'s row allows core/ but no file in cli/ imports core/: take it out of the row"]);
    expect(
      findCycle(
        new Map([
          ['a/', ['b/']],
          ['b/', ['c/']],
          ['c/', ['a/']],
        ]),
      ),
    ).toEqual(['a/', 'b/', 'c/', 'a/']);
  });
});
