import { ParamError } from '../core/errors.ts';

/** A decimal literal: digits with an optional fraction and exponent (0.5, .5, 5., 1e-3, -2.5E+4). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The value of a decimal number written as text, or why it has none: `not a decimal number`
 * (hex, octal and binary literals, Infinity, NaN, '' …), `overflows` (beyond the largest double) or
 * `underflows to 0` (a non-zero literal too small for a double). −0 reads as 0. The one rule for
 * numbers typed by users: CLI options here, and the text grids of sweep config files.
 */
export function readDecimal(text: string): { value: number } | { problem: string } {
  const t = text.trim();
  if (!DECIMAL.test(t)) return { problem: 'not a decimal number' };
  const x = Number(t);
  if (!Number.isFinite(x)) return { problem: 'overflows' };
  if (x === 0) return /[1-9]/.test(t.split(/[eE]/)[0]) ? { problem: 'underflows to 0' } : { value: 0 };
  return { value: x };
}

/** Parses one integer option value. */
export function parseInteger(param: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const t = text.trim();
  // Digits only: no hex/octal/binary literal, exponent or fraction; beyond 2^53 is not safe.
  const x = /^[+-]?\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(x) || x < min || x > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new ParamError(param, `invalid --${param} "${text}" (expected ${range})`);
  }
  return x === 0 ? 0 : x;
}

/** Parses one number option value in [min, max], written as a decimal literal (see {@link readDecimal}). */
export function parseNumber(param: string, text: string, min: number, max: number): number {
  const r = readDecimal(text);
  if ('problem' in r || r.value < min || r.value > max) {
    const why = 'problem' in r ? `${r.problem}; ` : '';
    throw new ParamError(param, `invalid --${param} "${text}" (${why}expected a number in [${min}, ${max}])`);
  }
  return r.value;
}

/** Parses `2,4,6` into distinct integers, in the order given. */
export function parseIntegerList(param: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number[] {
  const parts = text.split(',');
  if (parts.some((p) => p.trim() === '')) {
    throw new ParamError(param, `invalid --${param} "${text}" (expected a comma-separated list of integers in [${min}, ${max}])`);
  }
  const values = parts.map((p) => parseInteger(param, p, min, max));
  if (new Set(values).size !== values.length) throw new ParamError(param, `invalid --${param} "${text}" (values must be distinct)`);
  return values;
}

/**
 * Parses noise levels: a list `0.6,0.7` or a range `a:b:n` (n evenly spaced values from a to b,
 * inclusive). Values are rounded to 12 significant digits so `0.5:0.9:9` gives 0.55, not
 * 0.5499999999. All values must lie in [min, max].
 */
export function parseNoiseLevels(param: string, text: string, min = 0, max = 1): number[] {
  const t = text.trim();
  let values: number[];
  if (t.includes(':')) {
    const parts = t.split(':');
    const bad = () => new ParamError(param, `invalid --${param} "${text}" (expected a list like 0.6,0.7 or a range start:end:count, values in [${min}, ${max}])`);
    if (parts.length !== 3) throw bad();
    const a = parseNumber(param, parts[0], min, max);
    const b = parseNumber(param, parts[1], min, max);
    const n = parseInteger(param, parts[2], 1, 100000);
    if (n === 1 && a !== b) throw bad();
    values = Array.from({ length: n }, (_, i) => (n === 1 ? a : Number((a + ((b - a) * i) / (n - 1)).toPrecision(12))));
  } else {
    const parts = t.split(',');
    if (parts.some((p) => p.trim() === '')) {
      throw new ParamError(param, `invalid --${param} "${text}" (expected a list like 0.6,0.7 or a range start:end:count, values in [${min}, ${max}])`);
    }
    values = parts.map((p) => parseNumber(param, p, min, max));
  }
  if (new Set(values).size !== values.length) throw new ParamError(param, `invalid --${param} "${text}" (values must be distinct)`);
  return values;
}
