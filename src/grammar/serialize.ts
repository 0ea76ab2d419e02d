import { createHash } from 'node:crypto';
import { ParamError } from '../core/errors.ts';
import { MAX_JSON_BYTES, readBounded } from '../core/readBounded.ts';
import { makeGrammar, type Grammar } from './grammar.ts';
import { symbolsAt, validateParams } from './params.ts';

export const GRAMMAR_SCHEMA = 'hierdiff.grammar';
export const GRAMMAR_SCHEMA_VERSION = 1;

/** The JSON form of a grammar: `rules[ℓ][symbol][k]` is the k-th tuple of that symbol. */
export interface GrammarJson {
  schema: typeof GRAMMAR_SCHEMA;
  schemaVersion: number;
  vocab: number;
  classes: number;
  synonyms: number;
  tuple: number;
  depth: number;
  /** How the rules were drawn, when known. */
  seed?: number;
  rng?: string;
  rules: number[][][][];
}

export function grammarToJson(g: Grammar, origin?: { seed: number; rng: string }): GrammarJson {
  const { synonyms: m, tuple: s } = g;
  const rules = g.rules.map((flat, level) =>
    Array.from({ length: symbolsAt(g, level) }, (_, a) => Array.from({ length: m }, (_, k) => Array.from(flat.subarray((a * m + k) * s, (a * m + k + 1) * s)))),
  );
  return {
    schema: GRAMMAR_SCHEMA,
    schemaVersion: GRAMMAR_SCHEMA_VERSION,
    vocab: g.vocab,
    classes: g.classes,
    synonyms: g.synonyms,
    tuple: g.tuple,
    depth: g.depth,
    ...(origin ? { seed: origin.seed, rng: origin.rng } : {}),
    rules,
  };
}

function bad(message: string): never {
  throw new ParamError('grammar', `invalid grammar file: ${message}`);
}

/** Parses and fully checks a grammar JSON value (shape, ranges, unambiguity). */
export function grammarFromJson(value: unknown): Grammar {
  if (typeof value !== 'object' || value === null) bad('expected a JSON object');
  const o = value as Record<string, unknown>;
  if (o.schema !== GRAMMAR_SCHEMA) bad(`expected "schema": "${GRAMMAR_SCHEMA}"`);
  if (o.schemaVersion !== GRAMMAR_SCHEMA_VERSION) bad(`unsupported schemaVersion ${String(o.schemaVersion)} (expected ${GRAMMAR_SCHEMA_VERSION})`);
  let params;
  try {
    params = validateParams({
      vocab: o.vocab as number,
      classes: o.classes as number,
      synonyms: o.synonyms as number,
      tuple: o.tuple as number,
      depth: o.depth as number,
    });
  } catch (e) {
    bad((e as Error).message);
  }
  const { vocab: v, synonyms: m, tuple: s, depth: L } = params;
  const rulesIn = o.rules;
  if (!Array.isArray(rulesIn) || rulesIn.length !== L) bad(`"rules" must have ${L} levels`);
  const rules: Int32Array[] = [];
  for (let level = 0; level < L; level++) {
    const n = symbolsAt(params, level);
    const lv = rulesIn[level];
    if (!Array.isArray(lv) || lv.length !== n) bad(`rules[${level}] must have ${n} symbols`);
    const flat = new Int32Array(n * m * s);
    for (let a = 0; a < n; a++) {
      const sym = lv[a];
      if (!Array.isArray(sym) || sym.length !== m) bad(`rules[${level}][${a}] must have ${m} rules`);
      for (let k = 0; k < m; k++) {
        const t = sym[k];
        if (!Array.isArray(t) || t.length !== s) bad(`rules[${level}][${a}][${k}] must be a ${s}-tuple`);
        for (let j = 0; j < s; j++) {
          const x = t[j];
          if (!Number.isInteger(x) || x < 0 || x >= v) bad(`rules[${level}][${a}][${k}][${j}] = ${String(x)} is not a symbol in [0, ${v - 1}]`);
          flat[(a * m + k) * s + j] = x;
        }
      }
    }
    rules.push(flat);
  }
  try {
    return makeGrammar(params, rules);
  } catch (e) {
    bad((e as Error).message);
  }
}

/**
 * Reads, parses and checks a saved grammar file (at most {@link MAX_JSON_BYTES}; devices, FIFOs
 * and directories are refused). Every failure is a one-line ParamError on `param`.
 */
export function readGrammarFile(path: string, param = 'grammar'): Grammar {
  return readGrammarFileWithOrigin(path, param).grammar;
}

/** Where a saved grammar came from, as recorded beside results that use it. */
export interface GrammarFileOrigin {
  /** The path as given. */
  path: string;
  /** SHA-256 of the file's bytes (hex). */
  sha256: string;
  /** The seed and rule generator the file says it was drawn with; null when it does not say. */
  seed: number | null;
  rng: string | null;
}

/** {@link readGrammarFile}, with what the file says about its origin and the hash of its bytes. */
export function readGrammarFileWithOrigin(path: string, param = 'grammar'): { grammar: Grammar; origin: GrammarFileOrigin } {
  const bytes = readBounded(path, MAX_JSON_BYTES, param);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ParamError(param, `invalid --${param} "${path}" (not valid JSON)`);
  }
  const grammar = grammarFromJson(value);
  const o = value as Record<string, unknown>;
  const seed = Number.isSafeInteger(o.seed) ? (o.seed as number) : null;
  const rng = typeof o.rng === 'string' ? o.rng : null;
  return { grammar, origin: { path, sha256: createHash('sha256').update(bytes).digest('hex'), seed, rng } };
}
