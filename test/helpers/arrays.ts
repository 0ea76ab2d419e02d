/** Small array helpers shared by the test files. */
import { expect } from 'vitest';

/**
 * max_i |a_i − b_i| of two arrays of one length (a different length fails the test). A NaN on
 * either side gives Infinity, so it can never pass a `toBeLessThan` bound.
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

/** The arithmetic mean of a non-empty list. */
export function mean(a: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i];
  return sum / a.length;
}

/** The number of elements of a tensor of this shape (the product of its dimensions). */
export function elementCount(shape: readonly (number | string)[]): number {
  return (shape as number[]).reduce((a, b) => a * b, 1);
}
