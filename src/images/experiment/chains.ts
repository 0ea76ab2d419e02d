import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRng, type Rng } from '../../core/random.ts';
import type { ResultsWriter } from '../../core/resultsFile.ts';
import { qSample, reverseStep } from '../diffusion/sampler.ts';
import { writePng } from '../io/writeImages.ts';
import { top1 } from '../models/classifier.ts';
import { changeCorrelations, patchChanges, pixelChange } from './changeCorrelations.ts';
import { compareLayer, type ClassifierStats } from './layerStats.ts';
import type { ImagesHeader, TrajectoryResult, UnitLine } from './resultsFile.ts';
import { classifierBatch, loadImage, type ImagesExperiment } from './setup.ts';

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

/** What the scheduler reports to its caller. */
export interface ChainHooks {
  onProgress?: (p: ImagesProgress) => void;
  /** Called with every generated image (CHW, [−1, 1] up to the chain's last noise-free step). */
  onGenerated?: (image: number, step: number, trajectory: number, x: Float32Array) => void;
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

/**
 * Runs the reverse chains of a run's units (image, step): K chains per unit, chains of all units
 * sharing the model's batches (filled unit by unit, so the model sees full batches until the last
 * units), generated images classified in batches across units. Each unit is appended to the
 * results file as soon as its last trajectory is classified. Every chain draws from its own
 * stream (seed, image, step, trajectory), so the lines do not depend on batching or order.
 */
export class ChainScheduler {
  private readonly exp: ImagesExperiment;
  private readonly stats: ClassifierStats;
  private readonly file: ResultsWriter<ImagesHeader, number, UnitLine>;
  private readonly hooks: ChainHooks;
  private readonly started: number;
  private readonly examplesDir: string;
  private readonly originals = new Map<number, OriginalImage>();
  /** Generated images waiting for the classifier, batched across units. */
  private readonly toClassify: { unit: Unit; trajectory: number }[] = [];
  private readonly active: Chain[] = [];
  private stepsDone = 0;
  private stepsTotal = 0;
  private unitsDone = 0;
  private generatedCount = 0;

  /** `started`: performance.now() at the start of the run (progress counts from there). */
  constructor(exp: ImagesExperiment, stats: ClassifierStats, file: ResultsWriter<ImagesHeader, number, UnitLine>, outDir: string, hooks: ChainHooks, started: number) {
    this.exp = exp;
    this.stats = stats;
    this.file = file;
    this.hooks = hooks;
    this.started = started;
    this.examplesDir = join(outDir, 'examples');
  }

  /** Runs the units `todo` (ascending) to the end. */
  async run(todo: number[]): Promise<void> {
    const { config, denoiser } = this.exp;
    const nSteps = config.steps.length;
    this.stepsTotal = todo.reduce((s, u) => s + config.trajectories * config.steps[u % nSteps], 0);
    this.unitsDone = this.file.resumed;
    this.report();
    const pending = todo.map((u) => ({ unit: u, image: Math.floor(u / nSteps), step: config.steps[u % nSteps] }));
    const fill = { next: 0, trajectory: 0, current: null as Unit | null };
    const batchX = new Float32Array(denoiser.batchSize * this.exp.channels * this.exp.size * this.exp.size);
    while (true) {
      // Fill the batch with new chains, unit by unit.
      while (this.active.length < denoiser.batchSize && fill.next < pending.length) await this.startChain(pending[fill.next], fill);
      if (this.active.length === 0) break;
      await this.step(batchX);
      await this.classifyQueued(this.active.length === 0 && fill.next >= pending.length);
      this.report();
    }
    await this.classifyQueued(true);
    this.report();
  }

  private report(): void {
    const elapsed = (performance.now() - this.started) / 1000;
    const { stepsDone, stepsTotal } = this;
    this.hooks.onProgress?.({
      stepsDone,
      stepsTotal,
      unitsDone: this.unitsDone,
      unitsTotal: this.file.header.units,
      unitsResumed: this.file.resumed,
      imagesPerSecond: elapsed > 0 ? this.generatedCount / elapsed : 0,
      elapsedSeconds: elapsed,
      etaSeconds: stepsDone > 0 ? (elapsed * (stepsTotal - stepsDone)) / stepsDone : null,
    });
  }

  /** Starts the next chain of `p`: its unit's first one opens the unit (and loads its original). */
  private async startChain(p: { unit: number; image: number; step: number }, fill: { next: number; trajectory: number; current: Unit | null }): Promise<void> {
    const { config, diffusion: d, channels, size } = this.exp;
    const K = config.trajectories;
    if (!fill.current || fill.current.unit !== p.unit) {
      const o = await this.loadOriginal(p.image);
      o.openUnits++;
      fill.current = { unit: p.unit, image: p.image, step: p.step, generated: new Array(K).fill(null), results: new Array(K).fill(null), left: K };
      fill.trajectory = 0;
    }
    const rng = createRng(config.seed, p.image, p.step, fill.trajectory);
    const x = new Float32Array(channels * size * size);
    // Default: x at spaced index k−1 (k noising steps), denoised from k−1; the published code
    // noises to index k (pure noise at k = K) and still starts at k−1.
    qSample(d, config.publishedOffset ? p.step : p.step - 1, this.originals.get(p.image)!.x0, x, rng);
    if (fill.trajectory === 0 && p.image < config.examples) await writePng(join(this.examplesDir, `i${p.image}-k${p.step}-noised.png`), x, channels, size, size);
    this.active.push({ unit: fill.current, trajectory: fill.trajectory, k: p.step - 1, x, rng });
    if (++fill.trajectory === K) fill.next++;
  }

  /** One model call over the active chains: each takes one reverse step; finished chains leave for the classifier. */
  private async step(batchX: Float32Array): Promise<void> {
    const { config, diffusion: d, denoiser, channels, size } = this.exp;
    const per = channels * size * size;
    const n = this.active.length;
    const timesteps = this.active.map((c, i) => {
      batchX.set(c.x, i * per);
      return config.model.timestepInput === 'original' ? d.timestepMap[c.k] : c.k;
    });
    const { output, outputChannels } = await denoiser.run(n === denoiser.batchSize ? batchX : batchX.subarray(0, n * per), n, timesteps);
    const outPer = outputChannels * size * size;
    const finished: Chain[] = [];
    this.active.forEach((c, i) => {
      reverseStep(d, c.k, c.x, output.subarray(i * outPer, (i + 1) * outPer), config.model.variance, config.sampler, c.rng);
      if (--c.k < 0) finished.push(c);
    });
    this.stepsDone += n;
    for (const c of finished) {
      this.active.splice(this.active.indexOf(c), 1);
      c.unit.generated[c.trajectory] = c.x;
      this.generatedCount++;
      this.hooks.onGenerated?.(c.unit.image, c.unit.step, c.trajectory, c.x);
      if (c.trajectory === 0 && c.unit.image < config.examples) await writePng(join(this.examplesDir, `i${c.unit.image}-k${c.unit.step}-generated.png`), c.x, channels, size, size);
      this.toClassify.push({ unit: c.unit, trajectory: c.trajectory });
    }
  }

  /** The original image, classified and probed once while its units run. */
  private async loadOriginal(image: number): Promise<OriginalImage> {
    let o = this.originals.get(image);
    if (o) return o;
    const { exp } = this;
    const x0 = await loadImage(exp, exp.entries[image]);
    const out = await exp.classifier.run(await classifierBatch(exp, [x0]), 1);
    o = { x0, top1: top1(out.logits, out.classes, 0), layers: out.layers.map((l) => ({ data: l.data.slice(), shape: l.shape })), openUnits: 0 };
    this.originals.set(image, o);
    if (image < exp.config.examples) await writePng(join(this.examplesDir, `i${image}-original.png`), x0, exp.channels, exp.size, exp.size);
    return o;
  }

  /** Classifies full batches of generated images (with `all`, also the last partial one). */
  private async classifyQueued(all: boolean): Promise<void> {
    const { exp } = this;
    while (this.toClassify.length >= exp.classifierBatchSize || (all && this.toClassify.length > 0)) {
      const batch = this.toClassify.splice(0, exp.classifierBatchSize);
      const out = await exp.classifier.run(
        await classifierBatch(
          exp,
          batch.map((b) => b.unit.generated[b.trajectory]!),
        ),
        batch.length,
      );
      batch.forEach(({ unit, trajectory }, i) => {
        const o = this.originals.get(unit.image)!;
        const label = exp.entries[unit.image].labelIndex;
        const t1 = top1(out.logits, out.classes, i);
        unit.results[trajectory] = {
          top1: t1,
          classKept: t1 === o.top1,
          labelKept: label === null ? null : t1 === label,
          pixelChange: pixelChange(o.x0, unit.generated[trajectory]!),
          layers: out.layers.map((l, j) => compareLayer(o.layers[j].data, 0, l.data, i, l.shape, this.stats.layers[j])),
        };
        if (--unit.left === 0) this.finishUnit(unit);
      });
    }
  }

  /** A unit's trajectories are all classified: its line goes to the results file. */
  private finishUnit(u: Unit): void {
    const { config, channels, size } = this.exp;
    const o = this.originals.get(u.image)!;
    const entry = this.exp.entries[u.image];
    const gh = Math.ceil(size / config.patch);
    let corr: ReturnType<typeof changeCorrelations> | null = null;
    if (config.trajectories >= 2)
      corr = changeCorrelations(
        u.generated.map((g) => patchChanges(o.x0, g!, channels, size, size, config.patch)),
        gh,
        gh,
      );
    const line: UnitLine = {
      type: 'unit',
      key: `${u.image}:${u.step}`,
      unit: u.unit,
      image: u.image,
      name: entry.name,
      label: entry.label,
      labelIndex: entry.labelIndex,
      step: u.step,
      tOverT: u.step / this.exp.diffusion.steps,
      originalTop1: o.top1,
      trajectories: u.results as TrajectoryResult[],
      chiNumerator: corr?.chiNumerator ?? null,
      chiDenominator: corr?.chiDenominator ?? null,
      correlation: corr?.correlation ?? null,
    };
    const text = JSON.stringify(line);
    // The value as it reads back from the file (JSON drops what it cannot hold).
    this.file.append(u.unit, text, JSON.parse(text) as UnitLine);
    this.unitsDone++;
    if (--o.openUnits === 0) this.originals.delete(u.image);
  }
}
