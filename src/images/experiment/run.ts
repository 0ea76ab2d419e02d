import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeAtomic } from '../../core/atomicWrite.ts';
import { checkInt, ParamError } from '../../core/errors.ts';
import { createRng, type Rng } from '../../core/random.ts';
import { qSample, reverseStep } from '../diffusion/sampler.ts';
import { writePng } from '../io/writeImages.ts';
import { top1 } from '../models/classifier.ts';
import { changeCorrelations, patchChanges, pixelChange } from './changeCorrelations.ts';
import { compareLayer, type ClassifierStats } from './layerStats.ts';
import { IMAGES_FORMAT, resultsFileName, scanImagesFile, unitsOfShard, type ImagesHeader, type ImagesShard, type TrajectoryResult, type UnitLine } from './resultsFile.ts';
import { classifierBatch, loadImage, type ImagesExperiment } from './setup.ts';
import { computeClassifierStats, validateClassifierStats, type StatsProgress } from './stats.ts';

/** Progress of a run, reported after every model call. */
export interface ImagesProgress {
  /** Reverse steps (model evaluations of one image) done and in all, over the units this call runs. */
  stepsDone: number;
  stepsTotal: number;
  unitsDone: number;
  unitsTotal: number;
  /** Of unitsDone, those found finished in the file (resume). */
  unitsResumed: number;
  /** Generated images per second over this call. */
  imagesPerSecond: number;
  elapsedSeconds: number;
  /** Seconds left at the rate of reverse steps so far, null before the first call. */
  etaSeconds: number | null;
}

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

/** Probes of an original image, kept while its units run. */
interface OriginalImage {
  x0: Float32Array;
  top1: number;
  layers: { data: Float32Array; shape: number[] }[];
  openUnits: number;
}

interface Unit {
  unit: number;
  image: number;
  step: number;
  generated: (Float32Array | null)[];
  results: (TrajectoryResult | null)[];
  left: number;
}

interface Chain {
  unit: Unit;
  trajectory: number;
  /** Spaced index of the next reverse step (−1 when done). */
  k: number;
  x: Float32Array;
  rng: Rng;
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

/**
 * Runs the image forward–backward experiment (docs/science.md §6, docs/images.md): for every image
 * and step k (of this shard), K trajectories: noise the image to step k, run the reverse chain back
 * to 0, classify the result and compare its probed layers with the original's. Chains of all units
 * share the model's batches, so the model sees full batches until the last units. Each finished
 * unit (image, step) is appended to the results file and fsynced; at the end the file is rewritten
 * in unit order, so its bytes do not depend on when units finished or how often the run resumed.
 *
 * Throws ParamError for an existing file without resume/overwrite, or one that holds another run.
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
  const path = join(outDir, resultsFileName(shard));
  const header: ImagesHeader = { type: 'header', format: IMAGES_FORMAT, run: { tool: 'hierdiff', version: options.version, command: options.command }, config, shard, units: unitsOfShard(config, shard).length };
  const headerText = JSON.stringify(header);

  // Decide about an existing file before any work.
  const kept = new Map<number, string>();
  if (existsSync(path)) {
    if (options.resume) {
      const scan = scanImagesFile(path);
      if (JSON.stringify(scan.header.config) !== JSON.stringify(config) || JSON.stringify(scan.header.shard) !== JSON.stringify(shard)) {
        throw new ParamError('resume', `invalid --resume: ${options.outDir} holds results of another run (different models, images or options); use --overwrite or another --out`);
      }
      for (const [u, v] of scan.units) kept.set(u, v.text);
    } else if (!options.overwrite) {
      throw new ParamError('out', `invalid --out ${options.outDir}: it already holds ${resultsFileName(shard)} (use --resume to continue it or --overwrite to replace it)`);
    }
  }

  // Whitening statistics: given, saved by an earlier call, or computed now on the clean images.
  const statsKey = `${config.classifier.sha256}|${config.images.namesSha256}|${config.imageSize}|${config.classifier.preset}|${config.classifier.resize}`;
  let stats = exp.stats ?? savedStats(outDir, statsKey);
  if (!stats) {
    stats = await computeClassifierStats(exp, options.onStats);
    writeAtomic(statsPath(outDir), `${JSON.stringify({ ...stats, key: statsKey })}\n`);
  }

  const ordered = (lines: Map<number, string>) => [...lines.keys()].sort((a, b) => a - b).map((u) => `${lines.get(u)!}\n`).join('');
  writeAtomic(path, `${headerText}\n${ordered(kept)}`);
  const fd = openSync(path, 'a');
  const d = exp.diffusion;
  const { channels, size } = exp;
  const per = channels * size * size;
  const nSteps = config.steps.length;
  const K = config.trajectories;
  const todo = unitsOfShard(config, shard).filter((u) => !kept.has(u));
  const unitsTotal = header.units;
  let unitsDone = kept.size;
  const stepsTotal = todo.reduce((s, u) => s + K * config.steps[u % nSteps], 0);
  let stepsDone = 0;
  let generatedCount = 0;
  const originals = new Map<number, OriginalImage>();
  const examplesDir = join(outDir, 'examples');
  const modelSeconds0 = exp.denoiser.callSeconds;
  const classifierSeconds0 = exp.classifier.callSeconds;
  const gh = Math.ceil(size / config.patch);

  const report = () => {
    const elapsed = (performance.now() - started) / 1000;
    options.onProgress?.({
      stepsDone,
      stepsTotal,
      unitsDone,
      unitsTotal,
      unitsResumed: kept.size,
      imagesPerSecond: elapsed > 0 ? generatedCount / elapsed : 0,
      elapsedSeconds: elapsed,
      etaSeconds: stepsDone > 0 ? (elapsed * (stepsTotal - stepsDone)) / stepsDone : null,
    });
  };

  const loadOriginal = async (image: number): Promise<OriginalImage> => {
    let o = originals.get(image);
    if (o) return o;
    const entry = exp.entries[image];
    const x0 = await loadImage(exp, entry);
    const out = await exp.classifier.run(await classifierBatch(exp, [x0]), 1);
    o = { x0, top1: top1(out.logits, out.classes, 0), layers: out.layers.map((l) => ({ data: l.data.slice(), shape: l.shape })), openUnits: 0 };
    originals.set(image, o);
    if (image < config.examples) await writePng(join(examplesDir, `i${image}-original.png`), x0, channels, size, size);
    return o;
  };

  const finishUnit = (u: Unit): void => {
    const o = originals.get(u.image)!;
    const entry = exp.entries[u.image];
    let corr: ReturnType<typeof changeCorrelations> | null = null;
    if (K >= 2) corr = changeCorrelations(u.generated.map((g) => patchChanges(o.x0, g!, channels, size, size, config.patch)), gh, gh);
    const line: UnitLine = {
      type: 'unit',
      key: `${u.image}:${u.step}`,
      unit: u.unit,
      image: u.image,
      name: entry.name,
      label: entry.label,
      labelIndex: entry.labelIndex,
      step: u.step,
      tOverT: u.step / d.steps,
      originalTop1: o.top1,
      trajectories: u.results as TrajectoryResult[],
      chiNumerator: corr?.chiNumerator ?? null,
      chiDenominator: corr?.chiDenominator ?? null,
      correlation: corr?.correlation ?? null,
    };
    const text = JSON.stringify(line);
    kept.set(u.unit, text);
    writeSync(fd, `${text}\n`);
    fsyncSync(fd);
    unitsDone++;
    if (--o.openUnits === 0) originals.delete(u.image);
  };

  // Generated images waiting for the classifier, batched across units.
  const toClassify: { unit: Unit; trajectory: number }[] = [];
  const classifyQueued = async (all: boolean): Promise<void> => {
    while (toClassify.length >= exp.classifierBatchSize || (all && toClassify.length > 0)) {
      const batch = toClassify.splice(0, exp.classifierBatchSize);
      const out = await exp.classifier.run(await classifierBatch(exp, batch.map((b) => b.unit.generated[b.trajectory]!)), batch.length);
      batch.forEach(({ unit, trajectory }, i) => {
        const o = originals.get(unit.image)!;
        const label = exp.entries[unit.image].labelIndex;
        const t1 = top1(out.logits, out.classes, i);
        unit.results[trajectory] = {
          top1: t1,
          classKept: t1 === o.top1,
          labelKept: label === null ? null : t1 === label,
          pixelChange: pixelChange(o.x0, unit.generated[trajectory]!),
          layers: out.layers.map((l, j) => compareLayer(o.layers[j].data, 0, l.data, i, l.shape, stats.layers[j])),
        };
        if (--unit.left === 0) finishUnit(unit);
      });
    }
  };

  try {
    report();
    const pending = todo.map((u) => ({ unit: u, image: Math.floor(u / nSteps), step: config.steps[u % nSteps] }));
    let next = 0;
    let nextTrajectory = 0;
    let current: Unit | null = null;
    const active: Chain[] = [];
    const batchX = new Float32Array(exp.denoiser.batchSize * per);
    const timesteps = new Array<number>(exp.denoiser.batchSize);
    while (true) {
      // Fill the batch with new chains, unit by unit.
      while (active.length < exp.denoiser.batchSize && next < pending.length) {
        const p = pending[next];
        if (!current || current.unit !== p.unit) {
          const o = await loadOriginal(p.image);
          o.openUnits++;
          current = { unit: p.unit, image: p.image, step: p.step, generated: new Array(K).fill(null), results: new Array(K).fill(null), left: K };
          nextTrajectory = 0;
        }
        const rng = createRng(config.seed, p.image, p.step, nextTrajectory);
        const x = new Float32Array(per);
        // Default: x at spaced index k−1 (k noising steps), denoised from k−1; the published code
        // noises to index k (pure noise at k = K) and still starts at k−1.
        qSample(d, config.publishedOffset ? p.step : p.step - 1, originals.get(p.image)!.x0, x, rng);
        if (nextTrajectory === 0 && p.image < config.examples) await writePng(join(examplesDir, `i${p.image}-k${p.step}-noised.png`), x, channels, size, size);
        active.push({ unit: current, trajectory: nextTrajectory, k: p.step - 1, x, rng });
        if (++nextTrajectory === K) next++;
      }
      if (active.length === 0) break;
      const n = active.length;
      active.forEach((c, i) => {
        batchX.set(c.x, i * per);
        timesteps[i] = config.model.timestepInput === 'original' ? d.timestepMap[c.k] : c.k;
      });
      const { output, outputChannels } = await exp.denoiser.run(n === exp.denoiser.batchSize ? batchX : batchX.subarray(0, n * per), n, timesteps.slice(0, n));
      const outPer = outputChannels * size * size;
      const finished: Chain[] = [];
      active.forEach((c, i) => {
        reverseStep(d, c.k, c.x, output.subarray(i * outPer, (i + 1) * outPer), config.model.variance, config.sampler, c.rng);
        if (--c.k < 0) finished.push(c);
      });
      stepsDone += n;
      for (const c of finished) {
        active.splice(active.indexOf(c), 1);
        c.unit.generated[c.trajectory] = c.x;
        generatedCount++;
        options.onGenerated?.(c.unit.image, c.unit.step, c.trajectory, c.x);
        if (c.trajectory === 0 && c.unit.image < config.examples) await writePng(join(examplesDir, `i${c.unit.image}-k${c.unit.step}-generated.png`), c.x, channels, size, size);
        toClassify.push({ unit: c.unit, trajectory: c.trajectory });
      }
      await classifyQueued(active.length === 0 && next >= pending.length);
      report();
    }
    await classifyQueued(true);
    report();
  } finally {
    closeSync(fd);
  }
  // Every unit done: the canonical file (unit order), atomically.
  writeAtomic(path, `${headerText}\n${ordered(kept)}`);
  const units = [...kept.keys()].sort((a, b) => a - b).map((u) => JSON.parse(kept.get(u)!) as UnitLine);
  return {
    path,
    header,
    units,
    resumed: unitsTotal - todo.length,
    seconds: (performance.now() - started) / 1000,
    modelSeconds: exp.denoiser.callSeconds - modelSeconds0,
    classifierSeconds: exp.classifier.callSeconds - classifierSeconds0,
  };
}
