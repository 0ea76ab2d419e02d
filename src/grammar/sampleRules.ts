import { PythonRandom } from '../core/pythonRandom.ts';
import { createRng } from '../core/random.ts';
import { resolveVariant, checkInt } from '../core/errors.ts';
import { makeGrammar, type Grammar } from './grammar.ts';
import { symbolsAt, validateParams, type GrammarParams, type GrammarParamsInput } from './params.ts';

/** Which generator draws the rules: ours, or CPython's (bit-compatible with the published code). */
export type RuleRng = 'own' | 'python';
export const RULE_RNGS: readonly RuleRng[] = ['own', 'python'];

export function resolveRuleRng(value: string): RuleRng {
  return resolveVariant('rng', value, RULE_RNGS);
}

/**
 * Draws an RHM grammar (docs/science.md §1): for each level, N_ℓ·m distinct s-tuples without replacement,
 * draws k·m..k·m+m−1 going to symbol k. With `rng: 'python'` the draw reproduces
 * `random.seed(seed); random.sample(tuples, N_ℓ·m)` level by level, as the authors' code does.
 */
export function sampleRules(input: GrammarParamsInput, seed: number, rng: RuleRng = 'own'): Grammar {
  const params = validateParams(input);
  return makeGrammar(params, drawRules(params, seed, rng));
}

/**
 * The rule tables of {@link sampleRules} for already validated sizes, without the limit on s^L:
 * theory code draws grammars far deeper than any simulation. Levels are drawn in order from one
 * stream, so the first L levels of a deeper grammar are the depth-L grammar of the same seed.
 */
export function drawRules(params: GrammarParams, seed: number, rng: RuleRng): Int32Array[] {
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  const { vocab: v, synonyms: m, tuple: s } = params;
  const tupleCount = v ** s;
  const rules: Int32Array[] = [];
  const py = rng === 'python' ? new PythonRandom(seed) : null;
  const own = rng === 'own' ? createRng(seed, 0x52554c45 /* "RULE" */) : null;
  if (!py && !own) resolveRuleRng(String(rng));
  for (let level = 0; level < params.depth; level++) {
    const count = symbolsAt(params, level) * m;
    // CPython samples from the list of tuples in lexicographic order, so the element is its index,
    // the tuple code: sample(range(v^s), count), drawn without building the list (O(count) memory).
    const codes = py ? py.sampleRange(tupleCount, count) : sampleDistinct(tupleCount, count, own!);
    const r = new Int32Array(count * s);
    for (let i = 0; i < count; i++) {
      let code = codes[i];
      for (let j = s - 1; j >= 0; j--) {
        r[i * s + j] = code % v;
        code = Math.floor(code / v);
      }
    }
    rules.push(r);
  }
  return rules;
}

/** k distinct integers from [0, n) in random order (partial Fisher–Yates on a sparse map). */
function sampleDistinct(n: number, k: number, rng: { nextInt(n: number): number }): number[] {
  const swapped = new Map<number, number>();
  const out: number[] = new Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(n - i);
    const atJ = swapped.get(j) ?? j;
    const atI = swapped.get(i) ?? i;
    swapped.set(j, atI);
    out[i] = atJ;
  }
  return out;
}
