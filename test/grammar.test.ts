import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PythonRandom } from '../src/core/pythonRandom.ts';
import { createRng } from '../src/core/random.ts';
import { ParamError } from '../src/core/errors.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { makeGrammar, ruleTuple, tupleRule } from '../src/grammar/grammar.ts';
import { drawRules } from '../src/grammar/sampleRules.ts';
import { MEMORY_LIMIT_ENV } from '../src/core/resources.ts';
import { paramError } from './helpers/errors.ts';
import { generate } from '../src/grammar/generate.ts';
import { decodeIndex, pMax } from '../src/grammar/count.ts';
import { parse } from '../src/grammar/validity.ts';
import { grammarFromJson, grammarToJson } from '../src/grammar/serialize.ts';
import { validateParams } from '../src/grammar/params.ts';
import { monteCarloTolerance } from './tolerance.ts';

describe('CPython-compatible random (docs/science.md §1 test vectors)', () => {
  it('reproduces getrandbits(32) after seed 42 and seed 0', () => {
    expect(new PythonRandom(42).getrandbits(32)).toBe(2746317213);
    expect(new PythonRandom(0).getrandbits(32)).toBe(3626764237);
  });

  it('reproduces sample() in both its pool and set methods (vectors from CPython 3.11)', () => {
    // random.Random(7).sample(range(1024), 200)[:10]: the "set" method (n > setsize).
    expect(
      new PythonRandom(7)
        .sample(
          Array.from({ length: 1024 }, (_, i) => i),
          200,
        )
        .slice(0, 10),
    ).toEqual([663, 970, 154, 404, 666, 49, 74, 840, 548, 96]);
    // random.Random(2**40 + 5).sample(range(30), 12): the "pool" method, a two-word seed.
    expect(
      new PythonRandom(2 ** 40 + 5).sample(
        Array.from({ length: 30 }, (_, i) => i),
        12,
      ),
    ).toEqual([16, 29, 8, 21, 0, 28, 1, 5, 2, 4, 7, 20]);
  });

  it("reproduces the published code's rules for (v=8, n_c=8, m=3, s=2, L=3, seed 42)", () => {
    const g = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 3 }, 42, 'python');
    const rules = (level: number, a: number) => [0, 1, 2].map((k) => ruleTuple(g, level, a, k));
    expect(rules(0, 0)).toEqual([
      [1, 6],
      [0, 1],
      [5, 7],
    ]);
    expect(rules(0, 1)).toEqual([
      [2, 1],
      [1, 7],
      [7, 7],
    ]);
    expect(rules(1, 0)).toEqual([
      [3, 1],
      [5, 5],
      [5, 1],
    ]);
    expect(rules(2, 7)).toEqual([
      [0, 4],
      [7, 0],
      [1, 6],
    ]);
  });

  it('reproduces s = 3 and n_c ≠ v (vectors from CPython 3.11: seed 3, v=4, n_c=3, m=2, L=2)', () => {
    const g = sampleRules({ vocab: 4, classes: 3, synonyms: 2, tuple: 3, depth: 2 }, 3, 'python');
    expect([0, 1, 2].flatMap((a) => [0, 1].map((k) => ruleTuple(g, 0, a, k)))).toEqual([
      [1, 3, 2],
      [2, 1, 1],
      [2, 0, 2],
      [0, 2, 0],
      [1, 1, 3],
      [3, 2, 2],
    ]);
    expect([0, 1, 2, 3].flatMap((a) => [0, 1].map((k) => ruleTuple(g, 1, a, k)))).toEqual([
      [3, 3, 0],
      [2, 2, 0],
      [2, 1, 1],
      [0, 1, 0],
      [2, 1, 2],
      [0, 0, 0],
      [3, 1, 1],
      [1, 3, 2],
    ]);
  });
});

describe('parameters (docs/science.md §1 constraints)', () => {
  const base = { vocab: 8, synonyms: 3, tuple: 2, depth: 3 };
  it.each([
    [{ ...base, vocab: 1 }, 'vocab'],
    [{ ...base, tuple: 1 }, 'tuple'],
    [{ ...base, depth: 0 }, 'depth'],
    [{ ...base, synonyms: 9 }, 'synonyms'], // m > v^(s−1)
    [{ ...base, synonyms: 0 }, 'synonyms'],
    [{ ...base, classes: 22 }, 'classes'], // n_c·m > v^s
    [{ ...base, vocab: 2.5 }, 'vocab'],
  ])('rejects %o naming %s', (input, param) => {
    try {
      validateParams(input);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ParamError);
      expect((e as ParamError).param).toBe(param);
      expect((e as Error).message).toContain(param);
    }
  });
  it('accepts the boundary m = v^(s−1) and n_c·m = v^s', () => {
    expect(() => validateParams({ vocab: 4, synonyms: 4, tuple: 2, depth: 2 })).not.toThrow();
    expect(() => validateParams({ vocab: 4, classes: 4, synonyms: 4, tuple: 2, depth: 2 })).not.toThrow();
  });
});

describe('rules, generation and parsing', () => {
  it('draws unambiguous rules for any valid parameters and seed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.nat(1000), fc.boolean(), (v, s, L, seed, py) => {
        const m = Math.max(1, Math.min(v ** (s - 1), 1 + (seed % 4)));
        const g = sampleRules({ vocab: v, synonyms: m, tuple: s, depth: L }, seed, py ? 'python' : 'own');
        for (let level = 0; level < L; level++) {
          const seen = new Set<string>();
          const r = g.rules[level];
          for (let i = 0; i < r.length / s; i++) seen.add(Array.from(r.subarray(i * s, (i + 1) * s)).join(','));
          expect(seen.size).toBe(r.length / s);
          for (const x of r) expect(x >= 0 && x < v).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('generated data parse back to their own latent trees at every level', () => {
    const g = sampleRules({ vocab: 6, classes: 4, synonyms: 3, tuple: 3, depth: 3 }, 9);
    const batch = generate(g, 50, createRng(1));
    for (let n = 0; n < batch.count; n++) {
      const levels = batch.levels.map((lv) => {
        const w = lv.length / batch.count;
        return Array.from(lv.subarray(n * w, (n + 1) * w));
      });
      const p = parse(g, levels[g.depth]);
      expect(p.valid.every(Boolean)).toBe(true);
      p.symbols.forEach((row, l) => expect(Array.from(row)).toEqual(levels[l]));
    }
  });

  it('classes are drawn uniformly (Monte Carlo)', () => {
    const g = sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 0);
    const n = 20000;
    const batch = generate(g, n, createRng(2));
    const counts = new Array(4).fill(0);
    for (const c of batch.levels[0]) counts[c]++;
    for (const c of counts) expect(Math.abs(c / n - 0.25)).toBeLessThan(monteCarloTolerance(0.25, n));
  });

  it('P_max matches docs/science.md §1 and decodeIndex enumerates every datum exactly once', () => {
    expect(pMax({ vocab: 8, classes: 8, synonyms: 3, tuple: 2, depth: 3 })).toBe(17496n);
    expect(pMax({ vocab: 32, classes: 32, synonyms: 8, tuple: 2, depth: 3 })).toBe(67108864n);
    expect(pMax({ vocab: 32, classes: 32, synonyms: 8, tuple: 2, depth: 8 })).toBe(32n * 8n ** 255n);
    const g = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 3 }, 42, 'python');
    const seen = new Set<string>();
    for (let i = 0n; i < 17496n; i++) {
      const d = decodeIndex(g, i);
      seen.add(Array.from(d.levels[3]).join(','));
      if (i % 2187n === 0n) expect(d.levels[0][0]).toBe(Number(i / 2187n)); // class = ⌊i / (P_max/n_c)⌋
    }
    expect(seen.size).toBe(17496);
  });

  it('decodes the published indexing: rule digits level by level, most significant first', () => {
    const g = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 2 }, 42, 'python');
    // P_max/n_c = 3^3 = 27; index 27·5 + 1·9 + 2·3 + 0 → class 5, root rule 1, children rules 2 and 0.
    const d = decodeIndex(g, 27n * 5n + 9n + 6n);
    expect(d.levels[0][0]).toBe(5);
    expect(Array.from(d.levels[1])).toEqual(ruleTuple(g, 0, 5, 1));
    const [a, b] = d.levels[1];
    expect(Array.from(d.levels[2])).toEqual([...ruleTuple(g, 1, a, 2), ...ruleTuple(g, 1, b, 0)]);
    expect(() => decodeIndex(g, 8n * 27n)).toThrow(ParamError);
  });

  it('validity of uniformly random tokens is f^((s^h−1)/(s−1)) per subtree (docs/science.md §1, exact count)', () => {
    const g = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 2 }, 42, 'python');
    // Enumerate all 8^4 sequences: fraction valid up to level 1 (h = 1 subtrees both parse) and level 0.
    let level1 = 0;
    let level0 = 0;
    for (let code = 0; code < 4096; code++) {
      const x = [0, 1, 2, 3].map((i) => Math.floor(code / 8 ** (3 - i)) % 8);
      const p = parse(g, x);
      if (p.valid[1]) level1++;
      if (p.valid[0]) level0++;
    }
    expect(level1 / 4096).toBeCloseTo(0.375 ** 2, 12);
    // Height-2 subtree at the root: n_c·m^3 parses out of v^4 = 0.0527 (docs/science.md §1 reference).
    expect(level0 / 4096).toBeCloseTo((8 * 27) / 4096, 12);
    expect(level0 / 4096).toBeCloseTo(0.0527, 4);
  });
});

describe('grammar JSON', () => {
  it('round-trips and records a schema version', () => {
    const g = sampleRules({ vocab: 5, classes: 3, synonyms: 2, tuple: 3, depth: 2 }, 4);
    const json = grammarToJson(g, { seed: 4, rng: 'own' });
    expect(json.schemaVersion).toBe(1);
    expect(json.rules[0][2][1]).toEqual(ruleTuple(g, 0, 2, 1));
    const back = grammarFromJson(JSON.parse(JSON.stringify(json)));
    expect(back.rules.map((r) => Array.from(r))).toEqual(g.rules.map((r) => Array.from(r)));
  });

  it.each([
    ['not an object', 3],
    ['wrong schema', { schema: 'x' }],
    [
      'ambiguous rules',
      (() => {
        const j = grammarToJson(sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 1 }, 0));
        j.rules[0][1][0] = [...j.rules[0][0][0]];
        return j;
      })(),
    ],
    [
      'symbol out of range',
      (() => {
        const j = grammarToJson(sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 1 }, 0));
        j.rules[0][0][0] = [0, 9];
        return j;
      })(),
    ],
  ])('rejects %s with a ParamError on "grammar"', (_label, value) => {
    expect(() => grammarFromJson(value)).toThrow(ParamError);
  });
});

describe('the inverse rule tables scale with the rules, not with v^s (issue 23)', () => {
  /** a·m + k by brute force over the rules: the dense table the grammar used to build. */
  const brute = (g: ReturnType<typeof sampleRules>, level: number): Map<number, number> => {
    const { vocab: v, tuple: s } = g;
    const out = new Map<number, number>();
    const r = g.rules[level];
    for (let rule = 0; rule < r.length / s; rule++) {
      let code = 0;
      for (let j = 0; j < s; j++) code = code * v + r[rule * s + j];
      out.set(code, rule);
    }
    return out;
  };

  it('hashed levels (v^s ≫ the rules) answer every code as the dense table did', () => {
    // 300^2 = 90 000 codes for 1 200 rules per level: hashed; 8^2: dense.
    for (const [params, rng] of [
      [{ vocab: 300, synonyms: 4, tuple: 2, depth: 2 }, 'own'],
      [{ vocab: 70, synonyms: 10, tuple: 3, depth: 2 }, 'python'],
      [{ vocab: 8, synonyms: 3, tuple: 2, depth: 3 }, 'python'],
    ] as const) {
      const g = sampleRules(params, 5, rng);
      const tuples = params.vocab ** params.tuple;
      for (let level = 0; level < g.depth; level++) {
        const want = brute(g, level);
        const index = g.tupleIndex[level];
        expect(index.shift === 0).toBe(tuples <= 1 << 16);
        if (index.shift !== 0) expect(index.keys.length).toBeLessThanOrEqual(4 * want.size);
        // The dense view is built on first use for hashed levels; both must match at every code.
        const dense = g.ruleOfTuple[level];
        expect(dense.length).toBe(tuples);
        let wrong = 0;
        for (let code = 0; code < tuples; code++) {
          const rule = want.get(code) ?? -1;
          if (tupleRule(index, code) !== rule || dense[code] !== rule) wrong++;
        }
        expect(wrong).toBe(0);
      }
    }
  });

  it('a hashed grammar still refuses ambiguous rules, parses, and posts to a worker without its dense view', () => {
    const params = validateParams({ vocab: 300, synonyms: 4, tuple: 2, depth: 1 });
    const rules = drawRules(params, 1, 'own');
    const g = makeGrammar(params, rules);
    expect(g.tupleIndex[0].shift).not.toBe(0);
    const twice = rules[0].slice();
    twice.set(twice.subarray(0, 2), 10);
    expect(paramError(() => makeGrammar(params, [twice])).message).toMatch(/ambiguous: tuple \d+ appears twice/);
    const copy = structuredClone(g);
    expect(Object.keys(copy)).not.toContain('ruleOfTuple');
    const tokens = Array.from(g.rules[0].subarray(8, 10));
    expect(parse(copy, tokens).symbols[0][0]).toBe(1); // rule 4 = symbol 1, rule 0
    expect(parse(copy, tokens)).toEqual(parse(g, tokens));
  });

  it('v = 46 340, m = 1 draws in a moment (it built 2^31-entry tables: 8.5 GB), and its dense view is refused in one line', () => {
    const started = Date.now();
    for (const rng of ['own', 'python'] as const) {
      const g = sampleRules({ vocab: 46340, synonyms: 1, tuple: 2, depth: 1 }, 0, rng);
      expect(g.tupleIndex[0].keys.length).toBeLessThanOrEqual(4 * 46340);
      const r = g.rules[0];
      expect(parse(g, [r[2 * 123], r[2 * 123 + 1]]).symbols[0][0]).toBe(123);
      const saved = process.env[MEMORY_LIMIT_ENV];
      process.env[MEMORY_LIMIT_ENV] = '256M';
      try {
        const e = paramError(() => g.ruleOfTuple);
        expect(e.param).toBe('vocab');
        expect(e.message).toMatch(/vocab\^tuple = 46340\^2 = 2147395600 entries/);
        expect(e.message).toMatch(/needs ≈ 8 GiB of memory, the limit is 256 MiB/);
      } finally {
        if (saved === undefined) delete process.env[MEMORY_LIMIT_ENV];
        else process.env[MEMORY_LIMIT_ENV] = saved;
      }
    }
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
