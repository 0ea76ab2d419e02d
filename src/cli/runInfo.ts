import { packageVersion } from '../core/packageVersion.ts';
import { shellQuote } from '../core/shellQuote.ts';


/** What every results file records about the run that made it. */
export interface RunInfo {
  tool: 'hierdiff';
  version: string;
  /** The full command line, as `hierdiff <args>`. */
  command: string;
}

export function runInfo(argv: readonly string[]): RunInfo {
  return { tool: 'hierdiff', version: packageVersion(), command: ['hierdiff', ...argv.slice(2)].map(shellQuote).join(' ') };
}
