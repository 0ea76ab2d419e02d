import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ParamError } from '../core/errors.ts';

/**
 * Writes a file atomically: to `<path>.<pid>.tmp` first, then rename, so a crash or an error never
 * leaves a half-written file under the final name.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const target = resolve(path);
  try {
    mkdirSync(dirname(target), { recursive: true });
  } catch {
    throw new ParamError('out', `invalid output path "${path}" (cannot create its folder)`);
  }
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ParamError('out', `invalid output path "${path}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
  }
}

/** Reads and parses a JSON file, mapping every failure to a ParamError on `param`. */
export function readJsonFile(param: string, path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ParamError(param, `invalid --${param} "${path}" (cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ParamError(param, `invalid --${param} "${path}" (not valid JSON)`);
  }
}

/** JSON with a trailing newline; numbers as JavaScript prints them (shortest round-trip form). */
export function toJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
