import { ParamError } from '../core/errors.ts';
import { tupleRule, type Grammar } from './grammar.ts';
import { leafCount } from './params.ts';

/** The parse of one token sequence, level by level. */
export interface Parse {
  /** symbols[ℓ][i]: the unique symbol that derives node i's subtree, or −1 if none does. */
  readonly symbols: readonly Int32Array[];
  /** valid[ℓ]: every node of level ℓ parses, i.e. the sequence is valid up to level ℓ (docs/science.md §1). */
  readonly valid: readonly boolean[];
}

/** Checks a token list against the grammar: length d = s^L and every token in [0, v). */
export function checkTokens(g: Grammar, tokens: ArrayLike<number>): Int32Array {
  const d = leafCount(g);
  if (tokens.length !== d) {
    throw new ParamError('tokens', `invalid tokens: got ${tokens.length} tokens (expected ${d} = tuple^depth)`);
  }
  const out = new Int32Array(d);
  for (let i = 0; i < d; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= g.vocab) {
      throw new ParamError('tokens', `invalid token ${t} at position ${i} (expected an integer in [0, ${g.vocab - 1}])`);
    }
    out[i] = t;
  }
  return out;
}

/**
 * Parses tokens bottom-up. Unambiguity makes the parse unique: a tuple names its parent, so each
 * node either has exactly one symbol or none (−1, which also poisons its ancestors).
 */
export function parse(g: Grammar, tokens: ArrayLike<number>): Parse {
  const leaves = checkTokens(g, tokens);
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const symbols: Int32Array[] = new Array(L + 1);
  symbols[L] = leaves;
  for (let level = L - 1; level >= 0; level--) {
    const below = symbols[level + 1];
    const here = new Int32Array(below.length / s);
    const table = g.tupleIndex[level];
    for (let i = 0; i < here.length; i++) {
      let code = 0;
      let ok = true;
      for (let j = 0; j < s; j++) {
        const c = below[i * s + j];
        if (c < 0) ok = false;
        code = code * v + c;
      }
      const rule = ok ? tupleRule(table, code) : -1;
      here[i] = rule < 0 ? -1 : Math.floor(rule / m);
    }
    symbols[level] = here;
  }
  const valid = symbols.map((row) => row.every((x) => x >= 0));
  return { symbols, valid };
}
