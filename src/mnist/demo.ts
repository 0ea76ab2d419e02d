import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkInt } from '../core/errors.ts';
import { checkOutputFile } from '../core/outputDir.ts';
import type { VarianceMode } from '../images/diffusion/sampler.ts';
import { openImagesExperiment, type ImagesExperiment } from '../images/experiment/setup.ts';
import { writePng } from '../images/io/writeImages.ts';
import { heldOutSubset, HELD_OUT_PER_CLASS, MNIST_SIZE } from './data.ts';
import { mnistModelPaths } from './shipped.ts';

/** The demo's process: the shipped model's T = 1000 linear schedule respaced to 100 steps. */
export const DEMO_RESPACING = '100';
/**
 * The shipped model predicts ε only; its reverse steps use the fixed variance β̃ (DDPM's σ² = β̃,
 * "fixed-small"), which gave cleaner digits than β at 100 respaced steps (docs/images.md).
 */
export const DEMO_VARIANCE: VarianceMode = 'fixed-small';

export interface MnistDemoOptions {
  /** Output folder: digits/, results.jsonl, summary.json, stats.json, examples/, figures/, report.html. */
  out: string;
  /** The test-suite size: 2 digits per class, t/T = 0.2, 0.4, …, 1.0. */
  quick?: boolean;
  /** Held-out digits per class (default 20, quick 2; at most 100). */
  perClass?: number;
  /** Round trips per digit and step (default 2: χ needs two). */
  trajectories?: number;
  seed?: number;
  batchSize?: number;
  /** Models folder (default: the shipped models). */
  modelsDir?: string;
}

/** The settings a demo run uses, resolved from its options. */
export function demoSettings(o: MnistDemoOptions): { perClass: number; steps: number[]; trajectories: number; seed: number; batchSize: number } {
  const quick = o.quick ?? false;
  return {
    perClass: checkInt('per-class', o.perClass ?? (quick ? 2 : 20), 1, HELD_OUT_PER_CLASS),
    steps: quick ? [20, 40, 60, 80, 100] : [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    trajectories: checkInt('trajectories', o.trajectories ?? 2, 1, 1000),
    seed: checkInt('seed', o.seed ?? 0, 0),
    batchSize: checkInt('batch-size', o.batchSize ?? 64, 1, 4096),
  };
}

/**
 * Writes the demo's held-out digits as PNG files (OUT/digits/<class>/<k>.png, an ImageFolder) and
 * opens the image experiment on them with the MNIST models: everything `hierdiff images
 * forward-backward` would do with those files and options. The caller runs it
 * (runImagesExperiment) and writes the summary and report.
 */
export async function prepareMnistDemo(o: MnistDemoOptions): Promise<ImagesExperiment> {
  const s = demoSettings(o);
  const models = mnistModelPaths(o.modelsDir);
  const digits = heldOutSubset(s.perClass);
  const folder = join(o.out, 'digits');
  checkOutputFile('out', join(folder, '0', '000.png'));
  // The demo's own folder: a previous run's digits (another --per-class) must not join this run.
  rmSync(folder, { recursive: true, force: true });
  const px = MNIST_SIZE * MNIST_SIZE;
  for (let i = 0; i < digits.count; i++) {
    const label = digits.labels[i];
    const k = i - label * s.perClass;
    await writePng(join(folder, String(label), `${String(k).padStart(3, '0')}.png`), digits.images.subarray(i * px, (i + 1) * px), 1, MNIST_SIZE, MNIST_SIZE);
  }
  return openImagesExperiment({
    model: models.denoiser,
    classifier: models.classifier,
    images: folder,
    schedule: 'linear',
    diffusionSteps: 1000,
    respacing: DEMO_RESPACING,
    steps: s.steps,
    variance: DEMO_VARIANCE,
    timestepInput: 'original',
    classifierPreset: 'identity',
    trajectories: s.trajectories,
    seed: s.seed,
    batchSize: s.batchSize,
    examples: 4,
  });
}
