import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ParamError } from './errors.ts';

/**
 * Writes `content` to the path `target` through `<target>.<pid>.tmp` and a rename, so the
 * final name never holds a half-written file. Failures become a ParamError on `out`.
 */
export function writeAtomic(target: string, content: string | Uint8Array, shownAs = target): void {
  try {
    mkdirSync(dirname(target), { recursive: true });
  } catch {
    throw new ParamError('out', `invalid output path "${shownAs}" (cannot create its folder)`);
  }
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ParamError('out', `invalid output path "${shownAs}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
  }
}
