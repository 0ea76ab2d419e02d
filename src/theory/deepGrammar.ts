/**
 * RHM grammars of any depth for theory: population dynamics never builds s^L nodes, so it may go
 * deeper than `validateParams` allows for simulation (s^L ≤ 2^24). The rules are drawn exactly as
 * `sampleRules` draws them (same streams, same order, level by level), so the first L levels of a
 * deep grammar are the grammar that forward–backward uses at depth L with the same seed.
 */
import { checkInt, ParamError } from '../core/errors.ts';
import { PythonRandom } from '../core/pythonRandom.ts';
import { createRng } from '../core/random.ts';
import { makeGrammar, type Grammar } from '../grammar/grammar.ts';
import { sampleRules, type RuleRng } from '../grammar/sampleRules.ts';
import { MAX_LEAVES, symbolsAt, validateParams, type GrammarParams } from '../grammar/params.ts';

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
 * The grammar of `seed` with `depth` levels (SPEC §1). Equal to `sampleRules(…, seed, rng)` when
 * that is allowed (s^L ≤ 2^24); deeper ones continue the same random streams.
 */
export function deepGrammar(sizes: GrammarSizes, depth: number, seed: number, rng: RuleRng = 'own'): Grammar {
  checkInt('depth', depth, 1, MAX_THEORY_DEPTH);
  const base = validateParams({ ...sizes, depth: 1 });
  if (sizes.tuple ** depth <= MAX_LEAVES) return sampleRules({ ...sizes, depth }, seed, rng);
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  const params: GrammarParams = { ...base, depth };
  const { vocab: v, synonyms: m, tuple: s } = params;
  const tupleCount = v ** s;
  const py = rng === 'python' ? new PythonRandom(seed) : null;
  const own = rng === 'own' ? createRng(seed, 0x52554c45 /* "RULE", as sampleRules */) : null;
  if (!py && !own) throw new ParamError('rng', `invalid rng "${String(rng)}" (expected own or python)`);
  const lexicographic = py ? Array.from({ length: tupleCount }, (_, i) => i) : [];
  const rules: Int32Array[] = [];
  for (let level = 0; level < depth; level++) {
    const count = symbolsAt(params, level) * m;
    const codes = py ? py.sample(lexicographic, count) : sampleDistinct(tupleCount, count, own!);
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
  return makeGrammar(params, rules);
}

/** k distinct integers from [0, n) in random order: the same partial Fisher–Yates as sampleRules. */
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
