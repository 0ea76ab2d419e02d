import { join } from 'node:path';
import type { ImagesExperiment } from '../../images/experiment/setup.ts';
import { resultsFileName, type ImagesHeader, type UnitLine } from '../../images/experiment/resultsFile.ts';
import { runImagesExperiment, type RunImagesOptions, type RunImagesResult } from '../../images/experiment/run.ts';
import { summariseImages, type ImagesSummary } from '../../images/experiment/summary.ts';
import { writeImagesReport } from '../../report/imagesReport.ts';
import { reportEntries, toJsonText, writeFileAtomic } from '../files.ts';
import type { Shard } from '../../core/shard.ts';
import { startProgress } from '../progress.ts';
import { significant } from '../table.ts';

/** Runs the image experiment with progress bars (statistics, then reverse steps) and prints where the results went. */
export async function runWithProgress(exp: ImagesExperiment, options: Omit<RunImagesOptions, 'onStats' | 'onProgress'>): Promise<RunImagesResult> {
  let statsBar: ReturnType<typeof startProgress> | null = null;
  let bar: ReturnType<typeof startProgress> | null = null;
  const result = await runImagesExperiment(exp, {
    ...options,
    onStats: (done, total) => {
      statsBar ??= startProgress('whitening statistics', total, 'images');
      statsBar.update(done);
    },
    onProgress: (p) => {
      if (!bar) {
        statsBar?.stop();
        bar = startProgress('images forward-backward', p.stepsTotal, 'steps', '{images} images/s | {units} units');
      }
      bar.update(p.stepsDone, { units: `${p.unitsDone}/${p.unitsTotal}`, images: p.imagesPerSecond.toFixed(1) });
    },
  });
  (bar as ReturnType<typeof startProgress> | null)?.stop();
  if (statsBar !== null) process.stderr.write(`images forward-backward: whitening statistics computed on the clean images -> ${join(options.outDir, 'stats.json')}\n`);
  const share = result.seconds > 0 ? (100 * result.modelSeconds) / result.seconds : 0;
  process.stderr.write(`images forward-backward: ${result.units.length} units (${result.resumed} resumed) in ${result.seconds.toFixed(1)}s, ${share.toFixed(0)}% inside the model -> ${result.path}\n`);
  return result;
}

/** summary.json, the printed table and (unless skipped) the report of a finished run. */
export async function finishRun(out: string, header: ImagesHeader, units: UnitLine[], report: boolean): Promise<void> {
  const summary: ImagesSummary = { format: 'hierdiff.images-summary/1', run: header.run, config: header.config, rows: summariseImages(header.config, units) };
  writeFileAtomic(join(out, 'summary.json'), toJsonText(summary));
  printSummary(summary);
  if (report) {
    const written = await writeImagesReport(join(out, resultsFileName(null)), { outDir: out });
    process.stderr.write(`images report: ${written.length} files -> ${join(out, 'report.html')}\n`);
  }
}

function printSummary(summary: ImagesSummary): void {
  const head = ['step', 't/T', 'images', 'class kept', 'SE', ...(summary.rows.some((r) => r.classKeptLabel !== undefined) ? ['label kept'] : []), 'pixel change', 'chi', 'cosine (first … last layer)'];
  const lines = summary.rows.map((r) => [
    String(r.step),
    r.tOverT.toFixed(3),
    String(r.images),
    r.classKept.toFixed(3),
    significant(r.classKeptSE),
    ...(r.classKeptLabel !== undefined ? [r.classKeptLabel.toFixed(3)] : []),
    r.pixelChange.toFixed(4),
    r.chi === null ? '-' : r.chi.toFixed(2),
    r.layers.map((l) => l.cosine.toFixed(2)).join(' '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]))).join('  ');
  process.stdout.write(`${[fmt(head), ...lines.map(fmt)].join('\n')}\n`);
}

/**
 * What an image run writes into `out` that must not be replaced silently: its results file (of
 * this shard only, so the shards of one run can share a folder) and, for a whole run, the summary
 * and the report. The whitening statistics are reused on purpose (same classifier and images).
 */
export function imagesRunOutputs(out: string, shard: Shard | null): string[] {
  return shard ? [join(out, resultsFileName(shard))] : [join(out, resultsFileName(null)), join(out, 'summary.json'), ...reportEntries(out)];
}
