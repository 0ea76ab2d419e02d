/**
 * Temporary folders for the tests: made under the system's temp folder and removed, with all they
 * hold, by an afterAll hook registered where they are asked for (the top level of a test file, or
 * a describe block), so no test leaves one behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A fresh folder `<temp>/<prefix>XXXXXX`, removed after the tests of the file or describe block that made it. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A maker of fresh folders `<temp>/<prefix>XXXXXX`, one a call, all removed after the tests of the file or describe block that asked for the maker. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}
