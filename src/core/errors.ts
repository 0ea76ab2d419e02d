/**
 * Typed errors of the library. The CLI maps {@link ParamError} to exit code 2; library code
 * never prints or exits.
 */

/** An input outside its allowed range. `param` names the parameter as the user typed it. */
export class ParamError extends Error {
  readonly param: string;
  constructor(param: string, message: string) {
    super(message);
    this.name = 'ParamError';
    this.param = param;
  }
}

/**
 * Hard (zero) leaf evidence that no tree of the grammar can explain (docs/science.md §2): some node has
 * total weight 0. Raised instead of returning NaN marginals.
 */
export class InconsistentEvidenceError extends Error {
  /** Index of the datum in the batch. */
  readonly datum: number;
  /** Level of the first node found with zero weight (0 = root). */
  readonly level: number;
  /** Index of that node within its level. */
  readonly node: number;
  constructor(datum: number, level: number, node: number) {
    super(`evidence of datum ${datum} is inconsistent with the grammar: node ${node} of level ${level} has zero weight`);
    this.name = 'InconsistentEvidenceError';
    this.datum = datum;
    this.level = level;
    this.node = node;
  }
}

/**
 * Where a value came from, as error messages name it: a library parameter (`seed`), a CLI flag
 * (`--seed`) or a config field (`sweep config seed:`). `param` is what {@link ParamError} carries.
 */
export interface ValueSource {
  readonly param: string;
  readonly label: string;
}

/** The one wording of a refused value: `invalid <label> <shown> (<why>)`. */
export function invalidValue(source: ValueSource, shown: string, why: string): ParamError {
  return new ParamError(source.param, `invalid ${source.label} ${shown} (${why})`);
}

/** `an integer >= min`, or `an integer in [min, max]` when there is an upper bound. */
export function integerRange(min: number, max = Number.MAX_SAFE_INTEGER): string {
  return max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
}

/**
 * The one integer check: `value` unless it is not an integer in [min, max], then
 * `invalid <label> <shown> (expected an integer …)`. `shown` is how the value was written
 * (default: as JavaScript prints it).
 */
export function checkIntegerAt(source: ValueSource, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER, shown = String(value)): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalidValue(source, shown, `expected ${integerRange(min, max)}`);
  return value;
}

/** Throws a ParamError unless `value` is an integer in [min, max]. */
export function checkInt(param: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  return checkIntegerAt({ param, label: param }, value, min, max);
}

/** Throws a ParamError unless `value` is a finite number in [min, max]. */
export function checkNumber(param: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw invalidValue({ param, label: param }, String(value), `expected a number in [${min}, ${max}]`);
  return value;
}

/** Resolves a string-union variant or throws `invalid <param> "x" (expected a, b or c)`. */
export function resolveVariant<T extends string>(param: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const list = allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}` : allowed[0];
  throw new ParamError(param, `invalid ${param} "${value}" (expected ${list})`);
}

/**
 * A typed error as plain data. Structured cloning across worker threads keeps an error's message
 * but not its class, so workers send this and the main thread rebuilds the typed error.
 */
export interface WireError {
  name: string;
  message: string;
  param?: string;
  datum?: number;
  level?: number;
  node?: number;
}

export function errorToWire(e: unknown): WireError {
  if (e instanceof ParamError) return { name: e.name, message: e.message, param: e.param };
  if (e instanceof InconsistentEvidenceError) return { name: e.name, message: e.message, datum: e.datum, level: e.level, node: e.node };
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, message: err.message };
}

export function errorFromWire(w: WireError): Error {
  if (w.name === 'ParamError' && w.param !== undefined) return new ParamError(w.param, w.message);
  if (w.name === 'InconsistentEvidenceError' && w.datum !== undefined && w.level !== undefined && w.node !== undefined) {
    return new InconsistentEvidenceError(w.datum, w.level, w.node);
  }
  return Object.assign(new Error(w.message), { name: w.name });
}
