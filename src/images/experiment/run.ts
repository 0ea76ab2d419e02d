import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeAtomic } from '../../core/atomicWrite.ts';
import { checkInt, ParamError } from '../../core/errors.ts';
import { withResultsFile } from '../../core/resultsFile.ts';
import { ChainScheduler, type ImagesProgress } from './chains.ts';
import type { ClassifierStats } from './layerStats.ts';
import { IMAGES_FORMAT, IMAGES_RESULTS, resultsFileName, unitsOfShard, type ImagesHeader, type ImagesRunConfig, type ImagesShard, type UnitLine } from './resultsFile.ts';
import type { ImagesExperiment } from './setup.ts';
import { computeClassifierStats, validateClassifierStats, type StatsProgress } from './stats.ts';

export type { ImagesProgress } from './chains.ts';

export interface RunImagesOptions {
  /** Output folder: results (JSON lines), stats.json, examples/. */
  outDir: string;
  /** Continue an unfinished results file: keep its finished units, drop a half-written line. */
  resume?: boolean;
  /** Replace an existing results file. */
  overwrite?: boolean;
  shard?: ImagesShard | null;
  /** Tool version and command recorded in the header. */
  version: string;
  command: string;
  onProgress?: (p: ImagesProgress) => void;
  onStats?: StatsProgress;
  /** Called with every generated image (CHW, [−1, 1] up to the chain's last noise-free step), e.g. to test its law. */
  onGenerated?: (image: number, step: number, trajectory: number, x: Float32Array) => void;
}

export interface RunImagesResult {
  /** Absolute path of the results file. */
  path: string;
  header: ImagesHeader;
  /** Every unit of this file, in unit order. */
  units: UnitLine[];
  resumed: number;
  /** Seconds of the whole call, and inside denoiser and classifier calls. */
  seconds: number;
  modelSeconds: number;
  classifierSeconds: number;
}

function statsPath(outDir: string): string {
  return join(outDir, 'stats.json');
}

/** Statistics saved by an earlier call of this run, when they belong to the same classifier and images. */
function savedStats(outDir: string, key: string): ClassifierStats | null {
  const path = statsPath(outDir);
  if (!existsSync(path)) return null;
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as ClassifierStats & { key?: string };
    return s.key === key ? validateClassifierStats(s, path) : null;
  } catch {
    return null;
  }
}

/** What saved statistics must have been computed on: the classifier, the images and their preprocessing. */
function statsKey(config: ImagesRunConfig): string {
  return `${config.classifier.sha256}|${config.images.namesSha256}|${config.imageSize}|${config.classifier.preset}|${config.classifier.resize}`;
}

/** Whether the run needs no statistics computed in `outDir`: given with --stats, or saved there by an earlier call of this run. */
export function whiteningStatsReady(config: ImagesRunConfig, outDir: string): boolean {
  return config.stats !== 'computed' || savedStats(outDir, statsKey(config)) !== null;
}

/**
 * Whitening statistics: given, saved by an earlier call of this run (OUT/stats.json), or computed
 * now on the clean images and saved there, so later calls and the other shards of the run reuse them.
 */
export async function whiteningStats(exp: ImagesExperiment, outDir: string, onStats: StatsProgress | undefined): Promise<ClassifierStats> {
  const key = statsKey(exp.config);
  let stats = exp.stats ?? savedStats(outDir, key);
  if (!stats) {
    stats = await computeClassifierStats(exp, onStats);
    mkdirSync(outDir, { recursive: true });
    writeAtomic(statsPath(outDir), `${JSON.stringify({ ...stats, key })}\n`);
  }
  return stats;
}

/**
 * Runs the image forward–backward experiment (docs/science.md §6, docs/images.md): for every image
 * and step k (of this shard), K trajectories: noise the image to step k, run the reverse chain back
 * to 0, classify the result and compare its probed layers with the original's (the chains:
 * {@link ChainScheduler}). Each finished unit (image, step) is appended to the results file and
 * fsynced; at the end the file is rewritten in unit order, so its bytes do not depend on when units
 * finished or how often the run resumed.
 *
 * Holds the lock `<results file>.lock` (src/core/fileLock.ts, as a sweep does) for the whole run,
 * so two runs never write one results file: the second is refused, naming the first.
 *
 * Throws ParamError for an existing file without resume/overwrite, one that holds another run, or
 * one another live run is writing.
 */
export async function runImagesExperiment(exp: ImagesExperiment, options: RunImagesOptions): Promise<RunImagesResult> {
  const started = performance.now();
  const config = exp.config;
  const shard = options.shard ?? null;
  if (shard) {
    checkInt('shard-count', shard.count, 1, 100000);
    checkInt('shard', shard.index, 0, shard.count - 1);
  }
  const outDir = resolve(options.outDir);
  const name = resultsFileName(shard);
  const header: ImagesHeader = {
    type: 'header',
    format: IMAGES_FORMAT,
    run: { tool: 'hierdiff', version: options.version, command: options.command },
    config,
    shard,
    units: unitsOfShard(config, shard).length,
  };
  const checkResume = (stored: ImagesHeader) => {
    if (JSON.stringify(stored.config) !== JSON.stringify(config) || JSON.stringify(stored.shard) !== JSON.stringify(shard)) {
      throw new ParamError('resume', `invalid --resume: ${options.outDir} holds results of another run (different models, images or options); use --overwrite or another --out`);
    }
  };
  const open = {
    path: join(outDir, name),
    shownAs: join(options.outDir, name),
    header,
    resume: options.resume ?? false,
    overwrite: options.overwrite ?? false,
    exists: `invalid --out ${options.outDir}: it already holds ${name} (use --resume to continue it or --overwrite to replace it)`,
    checkResume,
    // The header records the run that resumed (a resume checks models, images and options, not the command).
    replaceHeader: true,
  };
  return withResultsFile(IMAGES_RESULTS, open, async (file) => {
    const stats = await whiteningStats(exp, outDir, options.onStats);
    file.start();
    const modelSeconds0 = exp.denoiser.callSeconds;
    const classifierSeconds0 = exp.classifier.callSeconds;
    const todo = unitsOfShard(config, shard).filter((u) => !file.has(u));
    await new ChainScheduler(exp, stats, file, outDir, options, started).run(todo);
    // Every unit done: the canonical file (unit order), atomically.
    const units = file.finish();
    return {
      path: file.path,
      header: file.header,
      units,
      resumed: header.units - todo.length,
      seconds: (performance.now() - started) / 1000,
      modelSeconds: exp.denoiser.callSeconds - modelSeconds0,
      classifierSeconds: exp.classifier.callSeconds - classifierSeconds0,
    };
  });
}
