/**
 * RHM grammars of any depth for theory: population dynamics never builds s^L nodes, so it may go
 * deeper than `validateParams` allows for simulation (s^L ≤ 2^24). The rules are drawn exactly as
 * `sampleRules` draws them (same streams, same order, level by level), so the first L levels of a
 * deep grammar are the grammar that forward–backward uses at depth L with the same seed.
 */
import { checkInt } from '../core/errors.ts';
import { makeGrammar, type Grammar } from '../grammar/grammar.ts';
import { drawRules, type RuleRng } from '../grammar/sampleRules.ts';
import { validateParams, type GrammarParams } from '../grammar/params.ts';

/** Grammar sizes without a depth. */
export interface GrammarSizes {
  readonly vocab: number;
  readonly synonyms: number;
  readonly tuple: number;
  readonly classes?: number;
}

/** Deepest grammar we draw for theory (rules cost N_ℓ·m·s integers per level). */
export const MAX_THEORY_DEPTH = 100000;

/**
 * The grammar of `seed` with `depth` levels (docs/science.md §1): the rules `sampleRules(…, seed, rng)` draws,
 * continued past its limit on s^L with the same random streams.
 */
export function deepGrammar(sizes: GrammarSizes, depth: number, seed: number, rng: RuleRng = 'own'): Grammar {
  checkInt('depth', depth, 1, MAX_THEORY_DEPTH);
  const base = validateParams({ ...sizes, depth: 1 });
  const params: GrammarParams = { ...base, depth };
  return makeGrammar(params, drawRules(params, seed, rng));
}
