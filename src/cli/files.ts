import { resolve } from 'node:path';
import { writeAtomic } from '../core/atomicWrite.ts';
import { ParamError } from '../core/errors.ts';
import { MAX_JSON_BYTES, readBounded } from '../core/readBounded.ts';

export { checkOutputFile, checkReportFolder } from '../core/outputDir.ts';

/**
 * Writes a file atomically (temp file + rename, see core/atomicWrite.ts): a crash or an error never
 * leaves a half-written file under the final name.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  writeAtomic(resolve(path), content, path);
}

/** Reads and parses a JSON file (at most `maxBytes`, regular files only), mapping every failure to a ParamError on `param`. */
export function readJsonFile(param: string, path: string, maxBytes = MAX_JSON_BYTES): unknown {
  const text = readBounded(path, maxBytes, param).toString('utf8');
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
