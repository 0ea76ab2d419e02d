import { ParamError } from '../core/errors.ts';
import type { GrammarParams } from './params.ts';
import { symbolsAt } from './params.ts';

/**
 * A drawn RHM grammar. `rules[ℓ]` (ℓ = 0..L−1) is a flat Int32Array of length N_ℓ·m·s:
 * child j of rule k of symbol a is at `[(a·m + k)·s + j]` and is a symbol of level ℓ+1.
 * `ruleOfTuple[ℓ]` inverts it: for the tuple code Σ_j x_j·v^(s−1−j) (first position most
 * significant) it holds a·m + k, or −1 when the tuple is not a rule (unambiguity, docs/science.md §1).
 */
export interface Grammar extends GrammarParams {
  readonly rules: readonly Int32Array[];
  readonly ruleOfTuple: readonly Int32Array[];
}

/**
 * Builds the inverse tables and checks unambiguity. `params` must be validated (validateParams);
 * `rules` is checked for shape and range, and a ParamError on `rules` reports any defect.
 */
export function makeGrammar(params: GrammarParams, rules: Int32Array[]): Grammar {
  const { vocab: v, synonyms: m, tuple: s } = params;
  if (!Array.isArray(rules) || rules.length !== params.depth) throw new ParamError('rules', `invalid rules (expected ${params.depth} levels)`);
  const ruleOfTuple: Int32Array[] = [];
  for (let level = 0; level < params.depth; level++) {
    const r = rules[level];
    const count = symbolsAt(params, level) * m;
    if (!(r instanceof Int32Array) || r.length !== count * s) throw new ParamError('rules', `invalid rules[${level}] (expected an Int32Array of ${count * s} symbols)`);
    for (let i = 0; i < r.length; i++) {
      if (r[i] < 0 || r[i] >= v) throw new ParamError('rules', `invalid rules[${level}][${i}] = ${r[i]} (expected a symbol in [0, ${v - 1}])`);
    }
    const table = new Int32Array(v ** s).fill(-1);
    for (let rule = 0; rule < count; rule++) {
      let code = 0;
      for (let j = 0; j < s; j++) code = code * v + r[rule * s + j];
      if (table[code] !== -1) throw new ParamError('rules', `invalid rules: rules of level ${level} are ambiguous: tuple ${code} appears twice`);
      table[code] = rule;
    }
    ruleOfTuple.push(table);
  }
  return { ...params, rules, ruleOfTuple };
}

/** The k-th tuple of `symbol` at `level`, as a plain array. */
export function ruleTuple(g: Grammar, level: number, symbol: number, k: number): number[] {
  const base = (symbol * g.synonyms + k) * g.tuple;
  return Array.from(g.rules[level].subarray(base, base + g.tuple));
}
