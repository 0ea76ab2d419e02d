import type { Command } from 'commander';
import { resolve } from 'node:path';
import { writeAtomic } from '../core/atomicWrite.ts';
import { ParamError } from '../core/errors.ts';
import { MAX_JSON_BYTES, readBounded } from '../core/readBounded.ts';

import { refuseExisting } from '../core/outputDir.ts';

export { checkOutputFile, checkReportFolder, refuseExisting, reportEntries } from '../core/outputDir.ts';

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

/** Adds `--overwrite` to a command that writes results (see {@link refuseExistingFiles}). */
export function addOverwriteOption(cmd: Command, help = 'replace output files that already exist (without it they are never replaced)'): Command {
  return cmd.option('--overwrite', help);
}

/**
 * Refuses, before any work, output files that already exist unless `--overwrite` was given: each
 * `[option, path]` pair names an output option and its value (undefined: not given). One line,
 * naming the option (core/outputDir.ts refuseExisting).
 */
export function refuseExistingFiles(outputs: readonly (readonly [param: string, path: string | undefined])[], overwrite: boolean | undefined): void {
  for (const [param, path] of outputs) if (path !== undefined) refuseExisting(param, path, [path], { overwrite });
}
