import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ParamError } from './errors.ts';
import { makeDirs, outputFileProblem } from './outputDir.ts';

/**
 * Writes `content` to the path `target` through `<target>.<pid>.tmp` and a rename, so the
 * final name never holds a half-written file. The path is checked first (no folder under /proc,
 * no folder at the target, a writable folder), and the folders it creates are removed again when
 * the write fails. Failures become a ParamError on `out`.
 */
export function writeAtomic(target: string, content: string | Uint8Array, shownAs = target): void {
  const problem = outputFileProblem(target);
  if (problem) throw new ParamError('out', `invalid output path "${shownAs}" (${problem})`);
  let created: string | undefined;
  try {
    created = makeDirs(dirname(resolve(target)));
  } catch {
    throw new ParamError('out', `invalid output path "${shownAs}" (cannot create its folder)`);
  }
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (created) rmSync(created, { recursive: true, force: true });
    throw new ParamError('out', `invalid output path "${shownAs}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
  }
}
