/**
 * The noise level: ε for eps, uniform and mask, the time fraction t/T for gaussian, always in
 * [0, 1]. Its one key, and the one reader of noise grids (CLI options and sweep config files).
 */
import { integerRange, invalidValue, type ValueSource } from '../core/errors.ts';
import { OPTIONS, readInteger, readNumberAt } from '../core/options.ts';

const { min: MIN, max: MAX } = OPTIONS.noiseLevels;

/**
 * The key of a noise level: the level rounded to 1e−9. It keys the cells' random streams and
 * groups results, so two levels of one grid must differ in it.
 */
export function noiseKey(noise: number): number {
  return Math.round(noise * 1e9);
}

/**
 * A grid's levels as given (numbers, or anything a config file holds), checked: numbers in
 * [0, 1], distinct by {@link noiseKey} (closer levels would share random streams).
 */
export function checkNoiseGrid(values: readonly unknown[], source: ValueSource, shown: string): number[] {
  if (values.length === 0) throw invalidValue(source, shown, `expected a non-empty list of numbers in [${MIN}, ${MAX}]`);
  for (const x of values) {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < MIN || x > MAX) throw invalidValue(source, JSON.stringify(x), `expected a number in [${MIN}, ${MAX}]`);
  }
  const levels = values as number[];
  if (new Set(levels.map(noiseKey)).size !== levels.length) throw invalidValue(source, shown, 'values must be distinct (to 1e-9)');
  return [...levels];
}

/**
 * Reads a noise grid written as text: a list `0.6,0.7` or a range `a:b:n` (n evenly spaced
 * values from a to b, both included, rounded to 12 significant digits so `0.5:0.9:9` gives 0.55,
 * not 0.5499999999). Numbers are decimal literals (core/options.ts readDecimal); the levels are checked
 * by {@link checkNoiseGrid}.
 */
export function parseNoiseGrid(text: string, source: ValueSource): number[] {
  const shown = `"${text}"`;
  const bad = () => invalidValue(source, shown, `expected a list like 0.6,0.7 or a range start:end:count, values in [${MIN}, ${MAX}]`);
  const level = (part: string): number => readNumberAt(source, part, MIN, MAX);
  const t = text.trim();
  if (!t.includes(':')) {
    const parts = t.split(',');
    if (parts.some((p) => p.trim() === '')) throw bad();
    return checkNoiseGrid(parts.map(level), source, shown);
  }
  const parts = t.split(':');
  if (parts.length !== 3) throw bad();
  const [a, b] = [level(parts[0]), level(parts[1])];
  const n = readInteger(parts[2]);
  if (!Number.isInteger(n) || n < 1 || n > 100000) throw invalidValue(source, `"${parts[2]}"`, `expected ${integerRange(1, 100000)}`);
  if (n === 1 && a !== b) throw bad();
  return checkNoiseGrid(
    Array.from({ length: n }, (_, i) => (n === 1 ? a : Number((a + ((b - a) * i) / (n - 1)).toPrecision(12)))),
    source,
    shown,
  );
}
