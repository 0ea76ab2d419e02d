import { ParamError } from '../../core/errors.ts';
import { LayerStatsAccumulator, type ClassifierStats } from './layerStats.ts';
import { classifierBatch, loadImage, type ImagesExperiment } from './setup.ts';

/** Progress of {@link computeClassifierStats}: images done of total. */
export type StatsProgress = (done: number, total: number) => void;

/**
 * Per-channel mean and mean square of every probed layer on the clean images (docs/science.md §6),
 * the whitening statistics of the experiment. Images go through the same path as in the experiment
 * (model size, saved as uint8, the classifier's preprocessing), `classifierBatchSize` at a time.
 */
export async function computeClassifierStats(
  exp: Pick<ImagesExperiment, 'entries' | 'classifier' | 'classifierBatchSize' | 'size' | 'channels' | 'classifierShape' | 'config'>,
  onProgress?: StatsProgress,
): Promise<ClassifierStats> {
  const accs = exp.classifier.layerNames.map((n) => new LayerStatsAccumulator(n));
  const total = exp.entries.length;
  for (let start = 0; start < total; start += exp.classifierBatchSize) {
    const batch = exp.entries.slice(start, start + exp.classifierBatchSize);
    const images = await Promise.all(batch.map((e) => loadImage(exp, e)));
    const out = await exp.classifier.run(await classifierBatch(exp, images), images.length);
    out.layers.forEach((l, i) => accs[i].add(l.data, l.shape));
    onProgress?.(start + batch.length, total);
  }
  return { format: 'hierdiff.image-stats/1', images: total, layers: accs.map((a) => a.result()) };
}

/** Checks a parsed stats file's shape (from `hierdiff images stats`). */
export function validateClassifierStats(value: unknown, shownAs: string): ClassifierStats {
  const s = value as ClassifierStats;
  const bad = (why: string): never => {
    throw new ParamError('stats', `invalid --stats "${shownAs}" (${why})`);
  };
  if (typeof s !== 'object' || s === null || s.format !== 'hierdiff.image-stats/1') bad('not a hierdiff image statistics file');
  if (!Array.isArray(s.layers)) bad('no layers');
  for (const l of s.layers) {
    if (typeof l.name !== 'string' || !Array.isArray(l.mean) || !Array.isArray(l.meanSquare) || l.mean.length !== l.channels || l.meanSquare.length !== l.channels)
      bad(`layer ${String(l.name)} is malformed`);
  }
  return s;
}
