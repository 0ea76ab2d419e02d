/**
 * The library's contract (hardening, class 6): every public function either returns a valid result
 * (no NaN where a number is expected, never undefined) or throws a ParamError naming the parameter /
 * an InconsistentEvidenceError — never another error type.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cosineSchedule,
  createRng,
  decodeIndex,
  fast32Backend,
  fastBackend,
  generate,
  InconsistentEvidenceError,
  linearSchedule,
  makeGrammar,
  makeProcess,
  ParamError,
  parse,
  PROCESS_NAMES,
  referenceBackend,
  respace,
  sampleRules,
  summariseCells,
  validateParams,
  type BpBackend,
  type CellStats,
  type Grammar,
} from '../src/index.ts';
import { paramError } from './helpers/errors.ts';

/** Fails unless `value` holds no NaN number and no undefined (typed arrays scanned; functions skipped). */
function assertValid(value: unknown, path = 'result', depth = 0): void {
  if (value === undefined) throw new Error(`${path} is undefined`);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw new Error(`${path} is NaN`);
    return;
  }
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (ArrayBuffer.isView(value)) {
    const a = value as unknown as ArrayLike<number | bigint>;
    for (let i = 0; i < a.length; i++) if (typeof a[i] === 'number' && Number.isNaN(a[i])) throw new Error(`${path}[${i}] is NaN`);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'function') continue;
    assertValid(v, `${path}.${k}`, depth + 1);
  }
}

/** Runs `f` under the contract; returns the result, or null when it threw a typed error. */
function contract<T>(f: () => T): T | null {
  let r: T;
  try {
    r = f();
  } catch (e) {
    if (e instanceof ParamError) {
      expect(typeof e.param).toBe('string');
      expect(e.param.length).toBeGreaterThan(0);
      return null;
    }
    if (e instanceof InconsistentEvidenceError) return null;
    throw new Error(`expected ParamError or InconsistentEvidenceError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  assertValid(r);
  return r;
}

const g1 = sampleRules({ vocab: 3, classes: 2, synonyms: 2, tuple: 2, depth: 2 }, 1);
const d1 = 4;
const v1 = 3;

function moments(count: number, value = 0.5) {
  return { count, sum: count * value, sumSq: count * value * value };
}

function cell(over: Partial<CellStats> = {}): CellStats {
  return {
    grammarSeed: 0,
    depth: 1,
    process: 'eps',
    noise: 0.1,
    control: 0.1,
    samples: 4,
    trajectories: 2,
    classMarginal: moments(4),
    classSampled: moments(4),
    levelMarginal: [moments(4), moments(4)],
    levelSampled: [moments(4), moments(4)],
    chiNumerator: 3,
    chiDenominator: 2,
    ...over,
  };
}

describe('known violations', () => {
  it('makeProcess refuses an unknown name and a gaussian without schedule', () => {
    expect(paramError(() => makeProcess('foo' as never, 0.5)).param).toBe('process');
    expect(paramError(() => makeProcess('gaussian', 0.5)).param).toBe('schedule');
  });

  it('linearSchedule and cosineSchedule keep betas in (0, 1]', () => {
    expect(linearSchedule(20, 0.1 / 20, 1).alphaBar[20]).toBe(0);
    expect(paramError(() => linearSchedule(1000, 1e-4, 2)).param).toBe('betaEnd');
    expect(paramError(() => linearSchedule(1000, -1, 0.02)).param).toBe('betaStart');
    expect(paramError(() => linearSchedule(1000, NaN, 0.02)).param).toBe('betaStart');
    expect(paramError(() => cosineSchedule(1000, 2)).param).toBe('maxBeta');
    expect(paramError(() => cosineSchedule(1000, NaN)).param).toBe('maxBeta');
  });

  for (const backend of [referenceBackend, fastBackend, fast32Backend] as BpBackend[]) {
    it(`${backend.name}: wrong-length λ, bad counts and bad λ values are ParamErrors`, () => {
      const good = new Float64Array(2 * d1 * v1).fill(1);
      expect(paramError(() => backend.upward(g1, good.subarray(0, 5), 2)).param).toBe('lambda');
      expect(paramError(() => backend.upward(g1, good, 3)).param).toBe('lambda');
      for (const c of [NaN, -1, 1.5, 0, Infinity]) expect(paramError(() => backend.upward(g1, good, c)).param).toBe('count');
      for (const x of [NaN, -1, Infinity]) {
        const bad = good.slice();
        bad[3] = x;
        expect(paramError(() => backend.upward(g1, bad, 2)).param).toBe('lambda');
      }
      expect(() => backend.upward(g1, new Float64Array(2 * d1 * v1), 2)).toThrow(InconsistentEvidenceError);
      const up = backend.upward(g1, good, 2);
      for (const t of [NaN, -1, 0.5]) expect(paramError(() => backend.sample(g1, up, createRng(1), t)).param).toBe('trajectories');
      expect(paramError(() => backend.marginals(g1, { ...up, count: 3 })).param).toBe('up');
      expect(paramError(() => backend.sample(g1, { ...up, messages: up.messages.slice(1) }, createRng(1), 1)).param).toBe('up');
    });
  }

  it('summariseCells of no cells is empty; of an empty cell or malformed cell a ParamError', () => {
    expect(summariseCells([])).toEqual([]);
    const empty = { count: 0, sum: 0, sumSq: 0 };
    expect(paramError(() => summariseCells([cell({ classMarginal: empty })])).param).toBe('cells');
    expect(paramError(() => summariseCells([cell({ levelSampled: [] })])).param).toBe('cells');
    expect(paramError(() => summariseCells([cell({ process: 'foo' as never })])).param).toBe('cells');
    expect(summariseCells([cell()])[0].classKept).toBe(0.5);
  });

  it('makeGrammar refuses malformed or ambiguous rules', () => {
    const params = validateParams({ vocab: 2, synonyms: 1, tuple: 2, depth: 1 });
    expect(paramError(() => makeGrammar(params, [Int32Array.of(0, 1, 0, 1)])).param).toBe('rules');
    expect(paramError(() => makeGrammar(params, [Int32Array.of(0, 1, 0, 5)])).param).toBe('rules');
    expect(paramError(() => makeGrammar(params, [])).param).toBe('rules');
    expect(makeGrammar(params, [Int32Array.of(0, 1, 1, 1)]).ruleOfTuple[0][3]).toBe(1);
  });

  it('decodeIndex refuses a non-bigint index', () => {
    expect(paramError(() => decodeIndex(g1, 1 as never)).param).toBe('index');
  });
});

// ---------------------------------------------------------------- property test

const special = fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, 0.5, 1e300, -1e300, 2 ** 53, 1e-300, 5e-324);
const anyNumber = fc.oneof(fc.integer({ min: -2, max: 6 }), fc.double(), special);
/** Small sizes: integers that keep memory bounded, or values that must be refused. */
const sizeNumber = fc.oneof(fc.integer({ min: -1, max: 4 }), fc.constantFrom(NaN, Infinity, -Infinity, 0.5, 1e300, 2 ** 53, 1.5));
const anyString = fc.oneof(fc.constantFrom('eps', 'uniform', 'mask', 'gaussian', 'own', 'python', 'foo', '', 'linear'), fc.string({ maxLength: 4 }));

const validGrammars: Grammar[] = [
  sampleRules({ vocab: 2, synonyms: 1, tuple: 2, depth: 2 }, 0),
  g1,
  sampleRules({ vocab: 4, classes: 3, synonyms: 2, tuple: 2, depth: 3 }, 7, 'python'),
  sampleRules({ vocab: 3, synonyms: 3, tuple: 3, depth: 1 }, 2),
];
const grammarArb = fc.constantFrom(...validGrammars);
const backendArb = fc.constantFrom<BpBackend>(referenceBackend, fastBackend, fast32Backend);

const SEED = 20261129;

describe('contract property', () => {
  it('grammar API', () => {
    fc.assert(
      fc.property(
        fc.record({ vocab: sizeNumber, classes: fc.option(sizeNumber, { nil: undefined }), synonyms: sizeNumber, tuple: sizeNumber, depth: sizeNumber }),
        anyNumber,
        anyString,
        grammarArb,
        anyNumber,
        fc.oneof(fc.bigInt({ min: -3n, max: 1n << 40n }), anyNumber),
        fc.array(anyNumber, { maxLength: 30 }),
        (params, seed, rng, g, count, index, tokens) => {
          contract(() => validateParams(params));
          contract(() => sampleRules(params, seed, rng as never));
          contract(() => generate(g, Math.abs(count) > 64 && Number.isInteger(count) ? 1e10 : count, createRng(1)));
          contract(() => decodeIndex(g, index as bigint));
          contract(() => parse(g, tokens));
          contract(() =>
            parse(
              g,
              tokens.slice(0, g.tuple ** g.depth).map((x) => (Number.isInteger(x) ? Math.abs(x) % (g.vocab + 1) : x)),
            ),
          );
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('noise API', () => {
    fc.assert(
      fc.property(anyString, anyNumber, fc.boolean(), sizeNumber, anyNumber, anyNumber, anyNumber, (name, noise, withSchedule, T0, a, b, K) => {
        const T = Number.isInteger(T0) && T0 > 0 ? T0 * 10 : T0;
        const schedule = contract(() => linearSchedule(T, a, b));
        contract(() => linearSchedule(T));
        const cos = contract(() => cosineSchedule(T, a));
        contract(() => makeProcess(name as never, noise, withSchedule ? (schedule ?? cos ?? undefined) : undefined));
        if (schedule) contract(() => respace(schedule, K));
        if (cos) contract(() => respace(cos, K));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('BP backends', () => {
    let reached = 0;
    const lambdaValue = fc.oneof({ arbitrary: fc.double({ min: 0, max: 2, noNaN: true }), weight: 30 }, { arbitrary: special, weight: 1 });
    fc.assert(
      fc.property(
        backendArb,
        grammarArb,
        fc.oneof({ arbitrary: fc.integer({ min: 1, max: 3 }), weight: 3 }, { arbitrary: sizeNumber, weight: 1 }),
        fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
        fc.integer({ min: 0, max: 60 }),
        fc.array(lambdaValue, { maxLength: 400 }),
        fc.boolean(),
        fc.constantFrom('f64', 'f32', 'array'),
        fc.oneof(fc.integer({ min: 1, max: 3 }), sizeNumber),
        (backend, g, count, exactLength, otherLength, values, positive, kind, trajectories) => {
          const need = Number.isInteger(count) && count > 0 ? count * g.tuple ** g.depth * g.vocab : 0;
          const length = exactLength && need <= 4096 ? need : otherLength;
          const data = Array.from({ length }, (_, i) => (values.length ? values[i % values.length] : 1));
          if (positive) for (let i = 0; i < length; i += 3) data[i] = 0.3 + (i % 5);
          // Hard evidence: zeros that may or may not leave a tree consistent with it.
          if (otherLength % 3 === 0) for (let i = otherLength % 7; i < length; i += 2) data[i] = 0;
          const lambda = kind === 'f64' ? Float64Array.from(data) : kind === 'f32' ? Float32Array.from(data) : data;
          const up = contract(() => backend.upward(g, lambda as Float64Array, count));
          if (!up) return;
          reached++;
          contract(() => backend.marginals(g, up));
          contract(() => backend.sample(g, up, createRng(3), trajectories));
          contract(() => backend.marginals(g, { ...up, count: up.count + 1 }));
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
    // The property must reach marginals and sample, not only refusals.
    expect(reached).toBeGreaterThan(10);
  });

  it('summariseCells', () => {
    const momentsArb = fc.record({ count: sizeNumber, sum: anyNumber, sumSq: anyNumber });
    const cellArb = fc.record({
      grammarSeed: sizeNumber,
      depth: fc.constantFrom(1, 2, 0, -1, NaN, 1.5),
      process: fc.constantFrom(...PROCESS_NAMES, 'foo'),
      noise: fc.constantFrom(0.1, 0.2, NaN, -1, 2),
      control: anyNumber,
      samples: sizeNumber,
      trajectories: sizeNumber,
      classMarginal: momentsArb,
      classSampled: momentsArb,
      levelMarginal: fc.array(momentsArb, { maxLength: 3 }),
      levelSampled: fc.array(momentsArb, { maxLength: 3 }),
      chiNumerator: anyNumber,
      chiDenominator: anyNumber,
      correlationByDistance: fc.option(fc.array(anyNumber, { maxLength: 3 }), { nil: undefined }),
      correlationByTreeDistance: fc.option(fc.array(anyNumber, { maxLength: 3 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(cellArb, fc.constant(cell()), fc.constant(cell({ grammarSeed: 1 }))), { maxLength: 4 }), (cells) => {
        const clean = cells.map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined))) as unknown as CellStats[];
        contract(() => summariseCells(clean));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('batch of the fast backends validates its request (the kernels trust it)', () => {
  const g = sampleRules({ vocab: 4, synonyms: 2, tuple: 2, depth: 2 }, 1);
  const count = 3;
  const d = 4;
  const truth = generate(g, count, createRng(1));
  const flat = (_s: number, _e: number, out: Float64Array) => out.fill(1);
  const request = () => ({
    count,
    likelihood: flat,
    rng: createRng(2),
    trajectories: 2,
    truth: null as typeof truth | null,
    tokenEvidence: null as { tokens: Int32Array; floor: number; hit: number } | null,
  });
  const tokens = new Int32Array(count * d);

  it.each([fastBackend, fast32Backend])('$name: ParamError naming the field for every malformed part', (backend) => {
    const cases: [string, object][] = [
      ['count', { ...request(), count: 0 }],
      ['count', { ...request(), count: 1.5 }],
      ['count', { ...request(), count: NaN }],
      ['likelihood', { ...request(), likelihood: 'flat' }],
      ['logLikelihood', { ...request(), logLikelihood: 3 }],
      ['rng', { ...request(), rng: null }],
      ['trajectories', { ...request(), trajectories: 0 }],
      ['truth', { ...request(), truth: generate(g, 2, createRng(1)) }],
      ['truth', { ...request(), truth: { count, levels: truth.levels.map((lv, l) => (l === 2 ? lv.map(() => 4) : lv)) } }],
      ['tokenEvidence', { ...request(), tokenEvidence: { tokens: tokens.map(() => 4), floor: 0.1, hit: 0.9 } }],
      ['tokenEvidence', { ...request(), tokenEvidence: { tokens: tokens.subarray(1), floor: 0.1, hit: 0.9 } }],
      ['tokenEvidence', { ...request(), tokenEvidence: { tokens, floor: NaN, hit: 0.9 } }],
      ['likelihood', { ...request(), likelihood: (_s: number, _e: number, out: Float64Array) => out.fill(NaN) }],
      ['likelihood', { ...request(), likelihood: (_s: number, _e: number, out: Float64Array) => out.fill(-1) }],
      ['likelihood', { ...request(), likelihood: (_s: number, _e: number, out: Float64Array) => out.fill(Infinity) }],
      // Subnormal likelihoods send the data to the log domain, where the bad log-likelihoods show.
      ['logLikelihood', { ...request(), likelihood: (_s: number, _e: number, out: Float64Array) => out.fill(1e-320), logLikelihood: (_s: number, _e: number, out: Float64Array) => out.fill(NaN) }],
    ];
    for (const [param, req] of cases) expect(paramError(() => backend.batch(g, req as never)).param, JSON.stringify(req)).toBe(param);
    // A valid request still runs, with and without truth and token evidence.
    expect(backend.batch(g, { ...request(), truth }).logEvidence).toHaveLength(count);
    expect(backend.batch(g, { ...request(), tokenEvidence: { tokens, floor: 0.1, hit: 0.9 } }).posterior.count).toBe(count * 2);
  });
});
