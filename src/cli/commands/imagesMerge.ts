import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { ParamError } from '../../core/errors.ts';
import { mergeImagesShards } from '../../images/experiment/resultsFile.ts';
import { checkReportFolder, writeFileAtomic } from '../files.ts';
import { finishRun } from './imagesFinish.ts';

/** `hierdiff images merge`: the shards of a sharded forward-backward run into one results file. */
export function registerImagesMerge(images: Command): void {
  images
    .command('merge')
    .description('merge the shard files of a sharded forward-backward run into OUT/results.jsonl, then write summary.json and the report')
    .argument('<out>', 'the output folder the shards wrote to')
    .option('--no-report', 'skip the figures and report.html')
    .action(async (out: string, o: { report?: boolean }) => {
      // The argument, not an option: say what it must be before any check that names --out.
      const kind = statSync(out, { throwIfNoEntry: false });
      if (!kind?.isDirectory())
        throw new ParamError('out', `invalid folder "${out}" (${kind ? 'not a folder' : 'not found'}; images merge takes the --out folder of a sharded images forward-backward run)`);
      if (o.report !== false) checkReportFolder('out', out);
      const merged = mergeImagesShards(out, (path, text) => writeFileAtomic(path, text));
      process.stderr.write(`images merge: ${merged.shards} shards, ${merged.units.length} units -> ${merged.path}\n`);
      await finishRun(out, merged.header, merged.units, o.report !== false);
    });
}
