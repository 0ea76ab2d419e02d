import type { Command } from 'commander';
import { summariseCells } from '../../experiment/summary.ts';
import { mergeSweepFiles } from '../../sweep/index.ts';
import { formatRows } from './forwardBackward.ts';
import { refuseExistingFiles } from '../files.ts';

export function registerMerge(program: Command, _argv: readonly string[]): void {
  program
    .command('merge')
    .description('join the shard files of one sweep into one results file; checks that no cell is missing or doubled')
    .argument('<files...>', 'results files of one sweep (its shards)')
    .requiredOption('--out <file>', 'merged results file (identical to an unsharded run of the same command)')
    .option('--overwrite', 'replace --out if it exists')
    .action((files: string[], o: { out: string; overwrite?: boolean }) => {
      refuseExistingFiles([['out', o.out]], o.overwrite);
      const result = mergeSweepFiles(files, o.out);
      process.stdout.write(formatRows(summariseCells(result.cells)));
      process.stderr.write(`merge: ${files.length} files, ${result.cells.length} cells -> ${o.out}\n`);
    });
}
