import type { Command } from 'commander';
import { openImagesExperiment } from '../../images/experiment/setup.ts';
import { computeClassifierStats } from '../../images/experiment/stats.ts';
import { refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { startProgress } from '../progress.ts';
import { addExperimentOptions, experimentInput, type ExperimentOptionValues } from './imagesOptions.ts';

/** `hierdiff images stats`: the classifier's whitening statistics on clean images. */
export function registerImagesStats(images: Command): void {
  addExperimentOptions(
    images
      .command('stats')
      .description('per-channel mean and mean square of every probed classifier layer on clean images: the whitening statistics (docs/science.md §6)')
      .requiredOption('--out <file>', 'statistics file (JSON)')
      .option('--overwrite', 'replace --out if it exists'),
    false,
  ).action(async (o: ExperimentOptionValues & { out: string; overwrite?: boolean }) => {
    const input = experimentInput(o);
    refuseExistingFiles([['out', o.out]], o.overwrite);
    const exp = await openImagesExperiment(input);
    try {
      const bar = startProgress('images stats', exp.entries.length, 'images');
      const stats = await computeClassifierStats(exp, (done) => bar.update(done));
      bar.stop();
      writeFileAtomic(o.out, toJsonText(stats));
      process.stderr.write(`images stats: ${stats.layers.length} layers over ${stats.images} images -> ${o.out}\n`);
    } finally {
      await exp.release();
    }
  });
}
