import sharp from 'sharp';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { writeAtomic } from '../core/atomicWrite.ts';
import { checkReportFolder, writeReportFolder } from '../core/outputDir.ts';
import { readImagesResults, type ImagesRunConfig } from '../images/experiment/resultsFile.ts';
import { summariseImages, type ImagesSummaryRow } from '../images/experiment/summary.ts';
import { loadForDiffusion } from '../images/io/preprocess.ts';
import { imageGrid } from '../images/io/writeImages.ts';
import { imagesChiFigure, imagesClassKeptFigure, imagesLayersFigure } from './figures/images.ts';
import { reportHtml, type PageFigure } from './html.ts';
import { renderSvg, svgToPng } from './render.ts';

export interface ImagesReportOptions {
  /** Output folder: report.html and figures/. */
  outDir: string;
  /** Draw from an unfinished results file. */
  partial?: boolean;
  /** The command that drew the report, when it is not the one that made the results. */
  reportCommand?: string;
}

/** At most `n` of the steps, evenly spread, always with the last. */
function pickSteps(steps: readonly number[], n: number): number[] {
  if (steps.length <= n) return [...steps];
  return [...new Set(Array.from({ length: n }, (_, i) => steps[Math.round(((i + 1) * steps.length) / n) - 1]))];
}

/**
 * The grid of examples from `examples/` beside the results: one row per example image, columns
 * original, then noised x_t and generated at up to four steps. Returns the PNG and its caption, or
 * null when no examples were saved.
 */
async function exampleGrid(dir: string, config: ImagesRunConfig): Promise<{ png: Uint8Array; caption: string } | null> {
  const steps = pickSteps(config.steps, 4);
  const { imageSize: size, channels } = config;
  const rows: (Float32Array | null)[][] = [];
  for (let i = 0; i < config.examples && i < config.images.count; i++) {
    const file = (name: string) => join(dir, 'examples', `i${i}-${name}.png`);
    if (!existsSync(file('original'))) continue;
    const load = async (name: string) => (existsSync(file(name)) ? loadForDiffusion(file(name), size, channels) : null);
    const row = [await load('original')];
    for (const k of steps) row.push(await load(`k${k}-noised`), await load(`k${k}-generated`));
    rows.push(row);
  }
  if (rows.length === 0) return null;
  const scale = Math.max(1, Math.round(96 / size));
  const png = await imageGrid(rows, channels, size, size, { gap: 4, scale });
  const when = steps.map((k) => (k / config.spacedSteps).toFixed(2)).join(', ');
  return { png, caption: `Rows: example images (trajectory 0). Columns: the original, then pairs (noised x_t, generated) at t/T = ${when}.` };
}

function parameters(config: ImagesRunConfig, units: number, missing: number): [string, string][] {
  return [
    [
      'diffusion model',
      `${config.model.path} (${(config.model.bytes / 1e6).toFixed(1)} MB, sha256 ${config.model.sha256.slice(0, 12)}…), variance ${config.model.variance}, timesteps ${config.model.timestepInput}`,
    ],
    ['classifier', `${config.classifier.path} (${config.classifier.layers.length} probed layers), preprocessing ${config.classifier.preset}`],
    [
      'images',
      `${config.images.count} from ${config.images.dir}${config.images.perClass ? ` (first ${config.images.perClass} per class)` : ''}, ${config.imageSize}×${config.imageSize}×${config.channels}`,
    ],
    [
      'process (docs/science.md §6.1)',
      `${config.schedule}, T = ${config.diffusionSteps}, respaced "${config.respacing}" to K = ${config.spacedSteps}; sampler ${config.sampler.kind}${config.sampler.kind === 'ddim' ? ` η = ${config.sampler.eta}` : ''}`,
    ],
    ['steps k (t/T = k/K)', config.steps.join(', ')],
    ['offset', config.publishedOffset ? 'published: noised to index k, reverse chain from k−1' : 'consistent: noised to index k−1, reverse chain from k−1'],
    ['trajectories per image and step', String(config.trajectories)],
    ['seed', String(config.seed)],
    ['units (image × step)', `${units}${missing ? ` (${missing} missing)` : ''}`],
    ['whitening statistics', config.stats === 'computed' ? 'computed on the run’s clean images' : `given (sha256 ${config.stats.slice(0, 12)}…)`],
  ];
}

/** Figures of an image run: class kept, layer cosines, χ (when K ≥ 2). */
export function imagesFigureSpecs(rows: readonly ImagesSummaryRow[]) {
  const figures = [
    {
      name: 'images-class-kept',
      title: 'Class kept vs noise time',
      caption: 'Fraction of round trips (noise to t/T, denoise back) whose top-1 class is the original’s top-1 (and the label, when labels exist), ±1 standard error over images.',
      spec: imagesClassKeptFigure(rows),
    },
    {
      name: 'images-layers',
      title: 'Hidden representations vs noise time',
      caption: 'Cosine similarity between the whitened activations of the original and the generated image, per probed layer (dark = early, bright = deep), ±1 s.e. over images.',
      spec: imagesLayersFigure(rows),
    },
  ];
  if (rows.some((r) => r.chi !== null)) {
    figures.push({
      name: 'images-chi',
      title: 'Correlated changes vs noise time',
      caption: 'χ = Σ_ij C_ij / Σ_i C_ii of the patch change magnitudes over the trajectories of one image, averaged over images: how many patches change together.',
      spec: imagesChiFigure(rows),
    });
  }
  return figures;
}

/**
 * Draws the report of an image forward–backward run from its results file: figures (SVG + PNG)
 * under `outDir/figures`, the example grid, and `report.html`, replacing the previous report's files
 * as a set once all are written. Returns the files written.
 */
export async function writeImagesReport(resultsPath: string, o: ImagesReportOptions): Promise<string[]> {
  checkReportFolder('out', o.outDir);
  const results = readImagesResults(resultsPath, { partial: o.partial ?? false });
  // Written into a temporary folder that replaces the previous report's files (report.html,
  // figures/, theory.json) as a set; the run's other files in outDir are kept.
  return writeReportFolder(o.outDir, (stage) => writeImagesReportFiles(stage, resultsPath, results, o));
}

async function writeImagesReportFiles(stage: string, resultsPath: string, results: ReturnType<typeof readImagesResults>, o: ImagesReportOptions): Promise<string[]> {
  const config = results.header.config;
  const rows = summariseImages(config, results.units);
  const figDir = join(stage, 'figures');
  const written: string[] = [];
  const page: PageFigure[] = [];
  for (const f of imagesFigureSpecs(rows)) {
    const svg = await renderSvg(f.spec);
    writeAtomic(join(figDir, `${f.name}.svg`), svg);
    writeAtomic(join(figDir, `${f.name}.png`), svgToPng(svg));
    written.push(join(figDir, `${f.name}.svg`), join(figDir, `${f.name}.png`));
    page.push({ name: f.name, title: f.title, caption: f.caption, svg, links: [`figures/${f.name}.png`, `figures/${f.name}.svg`] });
  }
  const grid = await exampleGrid(dirname(resultsPath), config);
  if (grid) {
    const path = join(figDir, 'images-examples.png');
    writeAtomic(path, grid.png);
    written.push(path);
    const meta = await sharp(grid.png).metadata();
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${meta.width}" height="${meta.height}"><image width="${meta.width}" height="${meta.height}" href="data:image/png;base64,${Buffer.from(grid.png).toString('base64')}"/></svg>`;
    page.push({ name: 'images-examples', title: 'Examples', caption: grid.caption, svg, links: ['figures/images-examples.png'] });
  }
  const notes: string[] = [];
  const shard = results.header.shard;
  if (shard) notes.push(`This is shard ${shard.index}/${shard.count} of a sharded run (drawn with --partial): merge the shards with hierdiff images merge for the whole run.`);
  if (results.missing) notes.push(`${results.missing} units of the run are missing (partial results); the figures show the units present.`);
  if (o.reportCommand) notes.push(`Figures drawn by: ${o.reportCommand}`);
  const html = reportHtml({
    title: 'hierdiff: forward–backward on an image diffusion model',
    about: 'on images, with a trained image diffusion model (ONNX) as the denoiser and an image classifier (ONNX) measuring what the round trip kept',
    command: results.header.run.command,
    tool: `${results.header.run.tool} ${results.header.run.version}`,
    parameters: parameters(config, results.units.length, results.missing),
    theory: [],
    figures: page,
    notes,
    resultsFile: relative(resolve(o.outDir), resolve(resultsPath)).split(sep).join('/'),
  });
  const htmlPath = join(stage, 'report.html');
  writeAtomic(htmlPath, html);
  written.push(htmlPath);
  return written;
}
