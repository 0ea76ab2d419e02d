// The layers of docs/architecture.md ("### Layers": its diagram and its layer table) and the imports
// of src/ and web/, for test/layers.test.ts. The table is the source of truth: the code must import
// only what its row allows, every allowance must be used, and the diagram must draw every layer above
// the layers it may import.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** How a module names another one. Type-only imports count like any other (a type is a dependency too). */
export type ImportKind = 'import' | 'import type' | 'export from' | 'dynamic import' | 'type import()' | 'new URL';

/** One module specifier in one file, where it is written. */
export interface Specifier {
  specifier: string;
  kind: ImportKind;
  line: number;
}

/** One import from a layer into a layer (possibly the same one). */
export interface LayerImport extends Specifier {
  /** The importing file, relative to the repository root, `/`-separated. */
  file: string;
  /** The importer's layer: `core/`, `index.ts`, `web/`… */
  from: string;
  /** The imported module's layer. */
  to: string;
}

/** The layers of docs/architecture.md, read from its "### Layers" section. */
export interface Layers {
  /** Layer → the layers its row may import, in table order. */
  table: Map<string, string[]>;
  /** The section's text diagram, one string per line. */
  diagram: string[];
}

/**
 * The layer a repository path belongs to: `src/<folder>/…` → `<folder>/`, a file at the top of
 * src/ → its name (`index.ts`, the front door), `web/…` → `web/` (the explorer page); anything
 * else (package.json, models/, dist/) is no layer.
 */
export function layerOf(pathFromRoot: string): string | undefined {
  const parts = pathFromRoot.split(/[\\/]/);
  if (parts[0] === 'web' && parts.length > 1) return 'web/';
  if (parts[0] !== 'src' || parts.length < 2) return undefined;
  return parts.length === 2 ? parts[1] : `${parts[1]}/`;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

/** The string a specifier position holds: a literal, or both literals of `c ? 'a' : 'b'`. */
function strings(node: ts.Node | undefined): string[] {
  if (node === undefined) return [];
  if (ts.isStringLiteralLike(node)) return [node.text];
  if (ts.isParenthesizedExpression(node)) return strings(node.expression);
  if (ts.isConditionalExpression(node)) return [...strings(node.whenTrue), ...strings(node.whenFalse)];
  return [];
}

/**
 * Every module specifier in one source file: `import … from`, `import '…'`, `import type`,
 * `export … from`, `import('…')`, `typeof import('…')` and `new URL('…', import.meta.url)` (a worker
 * or other module loaded at run time). Read with TypeScript's parser, so an import in a comment or a
 * string is not one; a dynamic import of a computed name cannot be seen.
 */
export function specifiersOf(fileName: string, text: string): Specifier[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: Specifier[] = [];
  const add = (node: ts.Node, specifiers: string[], kind: ImportKind): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    for (const specifier of specifiers) found.push({ specifier, kind, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, strings(node.moduleSpecifier), node.importClause?.isTypeOnly === true ? 'import type' : 'import');
    } else if (ts.isExportDeclaration(node)) {
      add(node, strings(node.moduleSpecifier), 'export from');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, strings(node.moduleReference.expression), 'import');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, strings(node.arguments[0]), 'dynamic import');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, strings(node.argument.literal), 'type import()');
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'URL' &&
      node.arguments?.length === 2 &&
      node.arguments[1].getText(source) === 'import.meta.url'
    ) {
      add(node, strings(node.arguments[0]), 'new URL');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * Every relative import in src/ and web/ under `root` that lands in a layer, with the layer of both
 * ends. Bare specifiers (packages, `node:` modules) are no layer and are left out.
 */
export function readLayerImports(root: string): LayerImport[] {
  const out: LayerImport[] = [];
  for (const path of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'web'))]) {
    const file = relative(root, path).split(sep).join('/');
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const s of specifiersOf(path, readFileSync(path, 'utf8'))) {
      if (!s.specifier.startsWith('.')) continue;
      const to = layerOf(relative(root, resolve(dirname(path), s.specifier)));
      if (to !== undefined) out.push({ ...s, file, from, to });
    }
  }
  return out;
}

/** The layers that exist: each folder and top-level file of src/ (no row for them fails), and web/. */
export function existingLayers(root: string): string[] {
  const src = readdirSync(join(root, 'src'), { withFileTypes: true })
    .filter((e) => e.isDirectory() || /\.(ts|mts|js|mjs)$/.test(e.name))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
  return [...src, 'web/'].sort();
}

/** `core` / `src/core/` / `` `core/` `` → `core/`; a file name (`index.ts`) stays as it is. */
function layerName(cell: string): string {
  const name = cell
    .replace(/`/g, '')
    .trim()
    .replace(/^src\//, '');
  return /\.[a-z]+$/.test(name) || name.endsWith('/') ? name : `${name}/`;
}

/**
 * The "### Layers" section of docs/architecture.md: its first ```text block (the diagram) and its
 * first markdown table, whose first column names the layer and whose column headed "may import"
 * lists, in backticks, the layers it may import (`—` or nothing for none).
 */
export function parseLayers(markdown: string): Layers {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^###\s+Layers\b/.test(l));
  if (start < 0) throw new Error('docs/architecture.md has no "### Layers" section');
  let end = lines.findIndex((l, i) => i > start && /^#{1,3}\s/.test(l));
  if (end < 0) end = lines.length;
  const section = lines.slice(start + 1, end);

  const open = section.findIndex((l) => /^```text\s*$/.test(l));
  const close = section.findIndex((l, i) => i > open && /^```\s*$/.test(l));
  if (open < 0 || close < 0) throw new Error('the "### Layers" section has no ```text diagram');
  const diagram = section.slice(open + 1, close);

  const cells = (line: string): string[] =>
    line
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((c) => c.trim());
  const head = section.findIndex((l) => l.trimStart().startsWith('|'));
  if (head < 0) throw new Error('the "### Layers" section has no table');
  const mayImport = cells(section[head]).findIndex((c) => /may import/i.test(c));
  if (mayImport < 0) throw new Error(`the layer table has no "may import" column: ${section[head]}`);
  const table = new Map<string, string[]>();
  for (let i = head + 2; i < section.length && section[i].trimStart().startsWith('|'); i++) {
    const row = cells(section[i]);
    const layer = layerName(row[0]);
    if (table.has(layer)) throw new Error(`the layer table has two rows for ${layer}`);
    table.set(
      layer,
      [...(row[mayImport] ?? '').matchAll(/`([^`]+)`/g)].map((m) => layerName(m[1])),
    );
  }
  if (table.size === 0) throw new Error('the layer table has no rows');
  return { table, diagram };
}

/** One line per import the table does not allow: file, line, specifier, kind and the layer pair. */
export function forbiddenImports(imports: readonly LayerImport[], table: ReadonlyMap<string, readonly string[]>): string[] {
  const out: string[] = [];
  for (const i of imports) {
    if (i.from === i.to) continue;
    const allowed = table.get(i.from);
    if (allowed === undefined || allowed.includes(i.to)) continue; // a missing row is its own failure
    out.push(
      `${i.file}:${i.line} imports '${i.specifier}' (${i.kind}): ${i.from} → ${i.to} is not allowed by ${i.from}'s row ` +
        `of the layer table in docs/architecture.md (it may import ${allowed.length > 0 ? allowed.join(' ') : 'nothing'})`,
    );
  }
  return out;
}

/** One line per allowance in the table that no import uses (an edge the diagram would draw falsely). */
export function unusedAllowances(imports: readonly LayerImport[], table: ReadonlyMap<string, readonly string[]>): string[] {
  const used = new Set(imports.map((i) => `${i.from} ${i.to}`));
  const out: string[] = [];
  for (const [from, allowed] of table) {
    for (const to of allowed) {
      if (!used.has(`${from} ${to}`)) out.push(`${from}'s row allows ${to} but no file in ${from} imports ${to}: take it out of the row`);
    }
  }
  return out;
}

/** A cycle of the "may import" relation as a path a → … → a, or undefined when there is none. */
export function findCycle(table: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (layer: string): string[] | undefined => {
    if (state.get(layer) === 'done') return undefined;
    if (state.get(layer) === 'open') return [...path.slice(path.indexOf(layer)), layer];
    state.set(layer, 'open');
    path.push(layer);
    for (const next of table.get(layer) ?? []) {
      const cycle = visit(next);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    state.set(layer, 'done');
    return undefined;
  };
  for (const layer of table.keys()) {
    const cycle = visit(layer);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

/**
 * The diagram's row of each layer: the lines on which its name (`core/`, `index.ts`) stands as a
 * word. A layer must stand on exactly one line; a name inside a longer path (`report/figures/`)
 * does not count.
 */
export function diagramRows(diagram: readonly string[], layers: Iterable<string>): Map<string, number[]> {
  const rows = new Map<string, number[]>();
  for (const layer of layers) {
    const word = new RegExp(`(^|[\\s(│|])${layer.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?=$|[\\s),│|])`);
    rows.set(
      layer,
      diagram.flatMap((line, i) => (word.test(line) ? [i] : [])),
    );
  }
  return rows;
}
