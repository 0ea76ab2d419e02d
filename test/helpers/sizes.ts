// The house rules on size (docs/development.md): files of src/ at most 350 lines, functions at most 80.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export const MAX_FILE_LINES = 350;
export const MAX_FUNCTION_LINES = 80;

/** Every TypeScript file under `dir` (recursively). */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.m?ts$/.test(name) ? [path] : [];
  });
}

function isFunction(n: ts.Node): n is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n)
  );
}

/** "path: N lines" for a file over the limit, "path:line name: N lines" for each function over it. */
export function sizeViolations(root: string, text: string, path: string, limits = { file: MAX_FILE_LINES, fn: MAX_FUNCTION_LINES }): string[] {
  const out: string[] = [];
  const name = relative(root, path);
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > limits.file) out.push(`${name}: ${lines} lines (at most ${limits.file})`);
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const visit = (n: ts.Node): void => {
    if (isFunction(n)) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      const label = n.name ? n.name.getText(sf) : '(anonymous)';
      if (last - first + 1 > limits.fn) out.push(`${name}:${first + 1} ${label}: ${last - first + 1} lines (at most ${limits.fn})`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The violations of every file under `dir`. */
export function treeSizeViolations(root: string, dir: string): string[] {
  return sourceFiles(join(root, dir)).flatMap((path) => sizeViolations(root, readFileSync(path, 'utf8'), path));
}
