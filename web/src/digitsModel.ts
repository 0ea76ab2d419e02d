/**
 * The shipped MNIST models as the digits view runs them: the settings of `hierdiff images demo`
 * (src/mnist/demo.ts, which imports node modules and so is not imported here), in one place.
 * The shipped denoiser was trained on DDPM's linear schedule with T = 1000 and predicts ε only;
 * the demo samples it at 100 respaced steps with the fixed posterior variance β̃ ("fixed-small"),
 * calls it with the original timestep index, and noises to spaced index k − 1 (not the published
 * offset). A test (test/web-digits.test.ts) checks the page against `hierdiff images
 * forward-backward` run with these flags.
 */
import { createImageDiffusion, type ImageDiffusion } from '../../src/images/diffusion/imageDiffusion.ts';
import type { RoundTripSettings } from '../../src/images/experiment/roundTrip.ts';

/** `--schedule linear --diffusion-steps 1000 --respacing 100` (DEMO_RESPACING). */
export const DIGITS_SCHEDULE = 'linear';
export const DIGITS_ORIGINAL_STEPS = 1000;
export const DIGITS_RESPACING = '100';
/** Spaced steps K of the respaced process: t/T = k/K. */
export const DIGITS_STEPS = 100;
/** Side and channels of the shipped models' images (32×32 grey, MNIST padded by 2). */
export const DIGITS_SIZE = 32;
export const DIGITS_CHANNELS = 1;
export const DIGITS_CLASSES = 10;
/** Reconstructions per "Noise and denoise" (trajectories j0 … j0 + K − 1). */
export const DIGITS_TRAJECTORIES = 4;
/** Steps of the class-kept curve: t/T = 0.1, 0.2, …, 1.0 (the demo's steps). */
export const CURVE_STEPS: readonly number[] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

/** Built on first use: the page's main bundle imports this file's constants only. */
let diffusion: ImageDiffusion | null = null;

/** The round-trip settings of the demo for noise seed `seed` (`--seed`), with `batchSize` images per model call. */
export function digitsSettings(seed: number, batchSize: number): RoundTripSettings {
  diffusion ??= createImageDiffusion({ schedule: DIGITS_SCHEDULE, originalSteps: DIGITS_ORIGINAL_STEPS, respacing: DIGITS_RESPACING });
  return { diffusion, seed, publishedOffset: false, variance: 'fixed-small', sampler: { kind: 'ddpm' }, timestepInput: 'original', batchSize };
}

/** The spaced step k of a slider value t/T (rounded to the grid 1/K … 1). */
export function stepOf(tOverT: number): number {
  return Math.min(DIGITS_STEPS, Math.max(1, Math.round(tOverT * DIGITS_STEPS)));
}
