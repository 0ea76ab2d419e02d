import { readFileSync } from 'node:fs';

let version: string | undefined;

/**
 * The package version from package.json, read on first use (not at import, so importing the
 * library touches no file) and remembered.
 */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
