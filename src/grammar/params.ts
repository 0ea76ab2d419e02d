import { checkInt, ParamError } from '../core/errors.ts';
import { checkOption, OPTIONS } from '../core/options.ts';

/** Parameters of a Random Hierarchy Model (docs/science.md §1). */
export interface GrammarParams {
  /** v: symbols per level below the root. */
  readonly vocab: number;
  /** n_c: root symbols (classes). */
  readonly classes: number;
  /** m: production rules per symbol. */
  readonly synonyms: number;
  /** s: children per node (tuple size). */
  readonly tuple: number;
  /** L: depth; leaves are level L. */
  readonly depth: number;
}

/** Parameters as a user may give them: `classes` defaults to `vocab`. */
export type GrammarParamsInput = Omit<GrammarParams, 'classes'> & { readonly classes?: number };

/** Largest number of tokens per datum we allow (s^L); keeps typed arrays addressable. */
export const MAX_LEAVES = 1 << 24;

/**
 * Validates RHM parameters against docs/science.md §1: s ≥ 2, v ≥ 2, L ≥ 1, m ≥ 1, m ≤ v^(s−1),
 * n_c·m ≤ v^s. Throws a ParamError naming the offending parameter.
 */
export function validateParams(input: GrammarParamsInput): GrammarParams {
  const vocab = checkOption(OPTIONS.vocab, input.vocab);
  const tuple = checkOption(OPTIONS.tuple, input.tuple);
  const depth = checkOption(OPTIONS.depth, input.depth, 'depth');
  const tuples = vocab ** tuple;
  if (tuples > 2 ** 31) {
    throw new ParamError('tuple', `invalid tuple ${tuple} (vocab^tuple = ${tuples} must be at most 2^31)`);
  }
  const maxSynonyms = vocab ** (tuple - 1);
  const synonyms = checkInt('synonyms', input.synonyms, 1, maxSynonyms);
  const maxClasses = Math.floor(tuples / synonyms);
  const classes = checkInt('classes', input.classes ?? vocab, 1, maxClasses);
  if (tuple ** depth > MAX_LEAVES) {
    throw new ParamError('depth', `invalid depth ${depth} (tuple^depth = ${tuple ** depth} must be at most ${MAX_LEAVES})`);
  }
  return { vocab, classes, synonyms, tuple, depth };
}

/** Number of symbols at level ℓ: n_c at the root, v elsewhere. */
export function symbolsAt(p: GrammarParams, level: number): number {
  return level === 0 ? p.classes : p.vocab;
}

/** Number of nodes at level ℓ: s^ℓ. */
export function nodesAt(p: GrammarParams, level: number): number {
  return p.tuple ** level;
}

/** Tokens per datum: d = s^L. */
export function leafCount(p: GrammarParams): number {
  return p.tuple ** p.depth;
}

/** f = m / v^(s−1): the fraction of valid tuples per symbol (docs/science.md §1). */
export function validFraction(p: GrammarParams): number {
  return p.synonyms / p.vocab ** (p.tuple - 1);
}
