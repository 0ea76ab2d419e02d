import { toUint8 } from '../images/io/pixels.ts';
import { heldOutSubset, MNIST_SIZE } from './data.ts';
import { encodeDigits } from './digitsFile.ts';

/** Held-out digits per class that the explorer page ships (web/public/mnist-digits.bin). */
export const EXPLORER_DIGITS_PER_CLASS = 10;

/**
 * The explorer's digits file: the first `EXPLORER_DIGITS_PER_CLASS` held-out digits of each class,
 * class by class, as the uint8 pixels `images demo` writes to its PNGs (src/mnist/digitsFile.ts).
 * `npm run build:digits` writes it; a test checks the shipped file is this.
 */
export function explorerDigitsFile(): Uint8Array {
  const digits = heldOutSubset(EXPLORER_DIGITS_PER_CLASS);
  const px = MNIST_SIZE * MNIST_SIZE;
  const pixels = new Uint8Array(digits.count * px);
  for (let i = 0; i < digits.count; i++) pixels.set(toUint8(digits.images.subarray(i * px, (i + 1) * px), 1), i * px);
  return encodeDigits({ count: digits.count, size: MNIST_SIZE, channels: 1, labels: Uint8Array.from(digits.labels), pixels });
}
