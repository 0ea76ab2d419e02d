import { packageVersion } from '../core/packageVersion.ts';
import { shellQuote } from '../core/shellQuote.ts';

/** What every results file records about the run that made it. */
export interface RunInfo {
  tool: 'hierdiff';
  version: string;
  /** The full command line, as `hierdiff <args>`. */
  command: string;
}

/**
 * The run record of the command line `argv` (process.argv). `--overwrite` is left out: it says
 * whether earlier results may be replaced, not what is computed, so a run with it writes the same
 * bytes as the same run into a fresh path.
 */
export function runInfo(argv: readonly string[]): RunInfo {
  const args = argv.slice(2).filter((a) => a !== '--overwrite');
  return { tool: 'hierdiff', version: packageVersion(), command: ['hierdiff', ...args].map(shellQuote).join(' ') };
}
