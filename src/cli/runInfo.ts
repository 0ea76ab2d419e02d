import { readFileSync } from 'node:fs';
import { shellQuote } from '../core/shellQuote.ts';

/** The package version, read once from package.json. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What every results file records about the run that made it. */
export interface RunInfo {
  tool: 'hierdiff';
  version: string;
  /** The full command line, as `hierdiff <args>`. */
  command: string;
}

export function runInfo(argv: readonly string[]): RunInfo {
  return { tool: 'hierdiff', version: VERSION, command: ['hierdiff', ...argv.slice(2)].map(shellQuote).join(' ') };
}
