import { ParamError } from '../core/errors.ts';
import { checkMemory } from '../core/resources.ts';
import type { GrammarParams } from './params.ts';
import { symbolsAt } from './params.ts';

/**
 * The rules of one level by tuple code Σ_j x_j·v^(s−1−j) (first position most significant): a·m + k
 * for the code of rule k of symbol a, −1 for a tuple that is no rule (unambiguity, docs/science.md §1).
 * Plain data, so a grammar still posts to worker threads. Read it with {@link tupleRule}.
 *
 * - `shift === 0`: dense, `rules[code]` for every one of the v^s codes (only when v^s is small:
 *   at most {@link DENSE_TUPLES}, or {@link DENSE_PER_RULE} entries per rule);
 * - otherwise an open-addressing hash of the N_ℓ·m rule codes (Fibonacci hashing, linear probing):
 *   slot i holds the code `keys[i]` (−1: empty) and its rule `rules[i]`; the home slot of a code is
 *   `Math.imul(code, 0x9e3779b1) >>> shift`. Memory O(N_ℓ·m), never O(v^s).
 */
export interface TupleIndex {
  readonly shift: number;
  readonly keys: Int32Array;
  readonly rules: Int32Array;
}

/** Dense tuple tables up to this many codes per level (256 KiB): a direct lookup, whatever the rules. */
export const DENSE_TUPLES = 1 << 16;
/** …or up to this many codes per rule (64 bytes a rule): denser tables than that are hashed. */
export const DENSE_PER_RULE = 16;

/**
 * A drawn RHM grammar. `rules[ℓ]` (ℓ = 0..L−1) is a flat Int32Array of length N_ℓ·m·s:
 * child j of rule k of symbol a is at `[(a·m + k)·s + j]` and is a symbol of level ℓ+1.
 * `tupleIndex[ℓ]` inverts it ({@link tupleRule}), in memory that scales with the rules.
 * `ruleOfTuple[ℓ]` is the same inverse as a dense table of all v^s codes (a·m + k, or −1): it is
 * the dense `tupleIndex[ℓ].rules` when every level is dense; otherwise it is built on first use
 * (v^s · 4 bytes per level, checked against the memory limit, a ParamError on `vocab` past it) and
 * is not an enumerable field (a grammar posted to a worker thread arrives without it). The library
 * itself only reads `tupleIndex`.
 */
export interface Grammar extends GrammarParams {
  readonly rules: readonly Int32Array[];
  readonly tupleIndex: readonly TupleIndex[];
  readonly ruleOfTuple: readonly Int32Array[];
}

/** a·m + k of the rule whose tuple has this code (0 ≤ code < v^s), or −1 when no rule has it. */
export function tupleRule(t: TupleIndex, code: number): number {
  if (t.shift === 0) return t.rules[code];
  const { keys } = t;
  const mask = keys.length - 1;
  for (let i = Math.imul(code, 0x9e3779b1) >>> t.shift; ; i = (i + 1) & mask) {
    const k = keys[i];
    if (k === code) return t.rules[i];
    if (k === -1) return -1;
  }
}

/** The inverse of one level's rules; a ParamError on `rules` when a tuple appears twice. */
function indexLevel(r: Int32Array, count: number, v: number, s: number, level: number): TupleIndex {
  const tuples = v ** s;
  const ambiguous = (code: number) => new ParamError('rules', `invalid rules: rules of level ${level} are ambiguous: tuple ${code} appears twice`);
  if (tuples <= DENSE_TUPLES || tuples <= DENSE_PER_RULE * count) {
    const table = new Int32Array(tuples).fill(-1);
    for (let rule = 0; rule < count; rule++) {
      let code = 0;
      for (let j = 0; j < s; j++) code = code * v + r[rule * s + j];
      if (table[code] !== -1) throw ambiguous(code);
      table[code] = rule;
    }
    return { shift: 0, keys: new Int32Array(0), rules: table };
  }
  // At least twice as many slots as rules (load ≤ 1/2), a power of two.
  const bits = Math.max(3, 32 - Math.clz32(2 * count - 1));
  const keys = new Int32Array(1 << bits).fill(-1);
  const rules = new Int32Array(1 << bits);
  const mask = keys.length - 1;
  const shift = 32 - bits;
  for (let rule = 0; rule < count; rule++) {
    let code = 0;
    for (let j = 0; j < s; j++) code = code * v + r[rule * s + j];
    let i = Math.imul(code, 0x9e3779b1) >>> shift;
    while (keys[i] !== -1) {
      if (keys[i] === code) throw ambiguous(code);
      i = (i + 1) & mask;
    }
    keys[i] = code;
    rules[i] = rule;
  }
  return { shift, keys, rules };
}

/** Dense tables built on first use, per grammar (see {@link Grammar.ruleOfTuple}). */
const denseTables = new WeakMap<object, Int32Array[]>();

function denseRuleOfTuple(g: Omit<Grammar, 'ruleOfTuple'>): Int32Array[] {
  const cached = denseTables.get(g.tupleIndex);
  if (cached) return cached;
  const { vocab: v, tuple: s, depth: L } = g;
  const tuples = v ** s;
  checkMemory('vocab', v, L * tuples * 4, `the dense tuple table ruleOfTuple holds vocab^tuple = ${v}^${s} = ${tuples} entries per level, depth ${L}; tupleIndex (parse, validity, BP) needs none`);
  const tables = g.tupleIndex.map((t, level) => {
    if (t.shift === 0) return t.rules;
    const table = new Int32Array(tuples).fill(-1);
    const count = symbolsAt(g, level) * g.synonyms;
    const r = g.rules[level];
    for (let rule = 0; rule < count; rule++) {
      let code = 0;
      for (let j = 0; j < s; j++) code = code * v + r[rule * s + j];
      table[code] = rule;
    }
    return table;
  });
  denseTables.set(g.tupleIndex, tables);
  return tables;
}

/**
 * Builds the inverse tables and checks unambiguity. `params` must be validated (validateParams);
 * `rules` is checked for shape and range, and a ParamError on `rules` reports any defect. Time and
 * memory scale with the rules (N_ℓ·m per level), not with the v^s possible tuples.
 */
export function makeGrammar(params: GrammarParams, rules: Int32Array[]): Grammar {
  const { vocab: v, synonyms: m, tuple: s } = params;
  if (!Array.isArray(rules) || rules.length !== params.depth) throw new ParamError('rules', `invalid rules (expected ${params.depth} levels)`);
  const tupleIndex: TupleIndex[] = [];
  for (let level = 0; level < params.depth; level++) {
    const r = rules[level];
    const count = symbolsAt(params, level) * m;
    if (!(r instanceof Int32Array) || r.length !== count * s) throw new ParamError('rules', `invalid rules[${level}] (expected an Int32Array of ${count * s} symbols)`);
    for (let i = 0; i < r.length; i++) {
      if (r[i] < 0 || r[i] >= v) throw new ParamError('rules', `invalid rules[${level}][${i}] = ${r[i]} (expected a symbol in [0, ${v - 1}])`);
    }
    tupleIndex.push(indexLevel(r, count, v, s, level));
  }
  if (tupleIndex.every((t) => t.shift === 0)) return { ...params, rules, tupleIndex, ruleOfTuple: tupleIndex.map((t) => t.rules) };
  const g: Omit<Grammar, 'ruleOfTuple'> = { ...params, rules, tupleIndex };
  Object.defineProperty(g, 'ruleOfTuple', { get: () => denseRuleOfTuple(g), enumerable: false, configurable: true });
  return g as Grammar;
}

/** The k-th tuple of `symbol` at `level`, as a plain array. */
export function ruleTuple(g: Grammar, level: number, symbol: number, k: number): number[] {
  const base = (symbol * g.synonyms + k) * g.tuple;
  return Array.from(g.rules[level].subarray(base, base + g.tuple));
}
