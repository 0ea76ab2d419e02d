import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fast32Backend, fastBackend, resolveBackend } from '../src/bp/fast.ts';
import { CellWorkerPool, runCellParallel } from '../src/experiment/parallelCell.ts';
import { referenceBackend } from '../src/bp/reference.ts';
import { batchFromSweeps } from '../src/bp/batch.ts';
import type { BpBackend } from '../src/bp/types.ts';
import { buildKernels } from '../scripts/build-wasm.ts';
import { KERNELS_WASM_BASE64 } from '../src/bp/wasm/kernelsBinary.ts';
import type { CellStats } from '../src/experiment/cell.ts';
import { runCell, type CellOptions, type CellSpec } from '../src/experiment/forwardBackward.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { makeProcess } from '../src/noise/process.ts';
import { generate } from '../src/grammar/generate.ts';
import { createRng } from '../src/core/random.ts';
import { float32Tolerance } from './tolerance.ts';
import { maxAbsDiff } from './helpers/arrays.ts';
import { addRepeatedly, tokenTables, type TokenTables } from '../src/bp/fast/tokens.ts';

const schedule = linearSchedule();
const g = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 4 }, 7);
const g3 = sampleRules({ vocab: 6, synonyms: 2, tuple: 3, depth: 3 }, 8);
const base: Omit<CellOptions, 'backend'> = { samples: 600, trajectories: 3, schedule, marginals: true, correlations: true };

/** The backend's batch by its own upward/marginals/sample instead of its fused pass. */
function genericOnly(b: BpBackend): BpBackend {
  return { name: b.name, upward: b.upward, marginals: b.marginals, sample: b.sample, batch: (grammar, request) => batchFromSweeps(b, grammar, request) };
}

function expectClose(a: CellStats, b: CellStats, tol: number): void {
  const flat = (s: CellStats) => [s.classMarginal.sum, s.classMarginal.sumSq, ...s.levelMarginal.map((m) => m.sum), s.chiNumerator, s.chiDenominator];
  const x = flat(a);
  const y = flat(b);
  x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(y[i]))));
}

describe('fast kernels in the forward-backward experiment', () => {
  const cells: { name: string; grammar: typeof g; cell: CellSpec }[] = [
    { name: 'eps s2', grammar: g, cell: { grammarSeed: 7, depth: 4, process: 'eps', noise: 0.5 } },
    { name: 'mask s2', grammar: g, cell: { grammarSeed: 7, depth: 4, process: 'mask', noise: 0.3 } },
    { name: 'gaussian s2', grammar: g, cell: { grammarSeed: 7, depth: 4, process: 'gaussian', noise: 0.1 } },
    { name: 'uniform s3', grammar: g3, cell: { grammarSeed: 8, depth: 3, process: 'uniform', noise: 0.2 } },
  ];

  it.each(cells)('float64 fast draws the same trees as the reference and matches its observables to round-off ($name)', ({ grammar, cell }) => {
    const ref = runCell(grammar, cell, { ...base, backend: referenceBackend });
    const fast = runCell(grammar, cell, { ...base, backend: fastBackend });
    // Same random stream use and float64 arithmetic: the sampled estimators are identical.
    expect(fast.classSampled).toEqual(ref.classSampled);
    expect(fast.levelSampled).toEqual(ref.levelSampled);
    expectClose(fast, ref, 1e-10);
  });

  it.each(cells)('the fused batch equals upward + marginals + sample of the same backend ($name)', ({ grammar, cell }) => {
    const fused = runCell(grammar, cell, { ...base, backend: fastBackend });
    const generic = runCell(grammar, cell, { ...base, backend: genericOnly(fastBackend) });
    expect(fused.levelSampled).toEqual(generic.levelSampled);
    expectClose(fused, generic, 1e-12);
    const fused32 = runCell(grammar, cell, { ...base, backend: fast32Backend });
    const generic32 = runCell(grammar, cell, { ...base, backend: genericOnly(fast32Backend) });
    expect(fused32.levelSampled).toEqual(generic32.levelSampled);
    expectClose(fused32, generic32, float32Tolerance(grammar.depth));
  });

  it('float32 observables agree with float64 within the float32 bound', () => {
    const cell = cells[0].cell;
    const opts = { ...base, correlations: false };
    const f64 = runCell(g, cell, { ...opts, backend: fastBackend });
    const f32 = runCell(g, cell, { ...opts, backend: fast32Backend });
    // Marginal estimators are means of probabilities: each within float32Tolerance of float64.
    expect(Math.abs(f32.classMarginal.sum - f64.classMarginal.sum) / f64.samples).toBeLessThanOrEqual(float32Tolerance(g.depth));
    f64.levelMarginal.forEach((m, l) => expect(Math.abs(f32.levelMarginal[l].sum - m.sum) / f64.samples).toBeLessThanOrEqual(float32Tolerance(g.depth)));
  });

  it('runCell defaults to the fast float64 backend; resolveBackend names every backend', () => {
    const cell = cells[0].cell;
    expect(runCell(g, cell, base)).toEqual(runCell(g, cell, { ...base, backend: fastBackend }));
    expect(resolveBackend('reference')).toBe(referenceBackend);
    expect(resolveBackend('fast32')).toBe(fast32Backend);
    expect(() => resolveBackend('gpu')).toThrow('invalid backend "gpu" (expected reference, fast or fast32)');
  });

  it('runCellParallel on 2 workers is identical to runCell (batches folded in order)', async () => {
    const cell = cells[1].cell;
    const opts = { ...base, samples: 1100 }; // d = 16: 256 data per batch, 5 batches
    for (const backend of [fastBackend, fast32Backend]) {
      const single = runCell(g, cell, { ...opts, backend });
      const done: number[] = [];
      const parallel = await runCellParallel(g, cell, { ...opts, backend, onProgress: (n) => done.push(n) }, { workers: 2 });
      expect(parallel).toEqual(single);
      expect(done).toEqual([256, 512, 768, 1024, 1100]);
    }
    // A pool kept across cells (and backends) gives the same results.
    const pool = new CellWorkerPool(2);
    try {
      for (const c of [cells[0].cell, cell]) expect(await runCellParallel(g, c, { ...opts, backend: fastBackend }, { pool })).toEqual(runCell(g, c, { ...opts, backend: fastBackend }));
      expect(await pool.run(g3, cells[3].cell, { ...opts, backend: referenceBackend })).toEqual(runCell(g3, cells[3].cell, { ...opts, backend: referenceBackend }));
    } finally {
      await pool.close();
    }
  }, 40_000);
});

describe('fast kernels on a deep grammar (several chunks and subtree blocks)', () => {
  const deep = sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: 9 }, 3);
  it('upward messages, evidence, marginals and draws match the reference', () => {
    const cell: CellSpec = { grammarSeed: 3, depth: 9, process: 'uniform', noise: 0.1 };
    const opts = { samples: 40, trajectories: 2, schedule, marginals: true, correlations: false };
    const ref = runCell(deep, cell, { ...opts, backend: referenceBackend });
    const fast = runCell(deep, cell, { ...opts, backend: fastBackend });
    expect(fast.levelSampled).toEqual(ref.levelSampled);
    expectClose(fast, ref, 1e-10);
    const count = 37; // 3 chunks of float64 lanes, 2 of float32; 2^9 leaves = several blocks
    const lambda = Float64Array.from({ length: count * 512 * 32 }, (_, i) => 0.05 + ((i * 2654435761) % 1000) / 1000);
    const r = referenceBackend.upward(deep, lambda, count);
    for (const [b, tol] of [
      [fastBackend, 1e-12],
      [fast32Backend, float32Tolerance(9)],
    ] as const) {
      const up = b.upward(deep, lambda, count);
      r.messages.forEach((m, l) => expect(maxAbsDiff(up.messages[l], m)).toBeLessThanOrEqual(tol));
      r.logEvidence.forEach((x, n) => expect(Math.abs(up.logEvidence[n] - x)).toBeLessThanOrEqual(tol * Math.abs(x)));
      const mr = referenceBackend.marginals(deep, r);
      const mf = b.marginals(deep, up);
      mr.forEach((m, l) => expect(maxAbsDiff(mf[l], m)).toBeLessThanOrEqual(tol));
    }
  }, 30_000);
});

describe('fused batch from token evidence', () => {
  // ε/uniform evidence given as tokens (leaf messages built in the kernels, block by block) must
  // give bit-identical results to the same evidence given as λ. 's2 deep' without truth also
  // takes the level-(L−1) pair-table path (blockHeight 5 ≥ 2, table 32³ floats), with 3 chunks
  // (the last partial) and K = 2.
  const cases = [
    { name: 's2 deep', grammar: sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: 9 }, 3), eps: 0.3 },
    { name: 's3', grammar: g3, eps: 0.6 },
    { name: 'eps 0 (hard)', grammar: g, eps: 0 },
  ];
  it.each(cases)(
    'equals the λ path exactly, with and without marginals ($name)',
    ({ grammar, eps }) => {
      const count = 37;
      const d = grammar.tuple ** grammar.depth;
      const v = grammar.vocab;
      const truth = generate(grammar, count, createRng(1, 2));
      const tokens = truth.levels[grammar.depth];
      const process = makeProcess('eps', eps);
      const obs = process.sample(tokens, v, createRng(3));
      const te = process.tokenEvidence!(obs, v);
      for (const backend of [fastBackend, fast32Backend]) {
        for (const withTruth of [false, true]) {
          const run = (tokenEvidence: typeof te | null) =>
            backend.batch(grammar, {
              count,
              likelihood: (start, end, out) => process.likelihood({ kind: 'tokens', tokens: tokens.subarray(start * d, end * d) }, v, out),
              rng: createRng(9),
              trajectories: 2,
              truth: withTruth ? truth : null,
              tokenEvidence,
            });
          const a = run(te);
          const b = run(null);
          expect(a.logEvidence).toEqual(b.logEvidence);
          expect(a.rootPosterior).toEqual(b.rootPosterior);
          expect(a.posterior.levels).toEqual(b.posterior.levels);
          expect(a.levelMarginalKept).toEqual(b.levelMarginalKept);
          // A second call takes the pair table from the per-thread cache.
          expect(run(te).posterior.levels).toEqual(a.posterior.levels);
        }
      }
    },
    30_000,
  );
});

describe('committed WebAssembly', () => {
  it('kernels.wasm and kernelsBinary.ts are a fresh build of kernels.as', async () => {
    const fresh = await buildKernels();
    const committed = readFileSync(new URL('../src/bp/wasm/kernels.wasm', import.meta.url));
    expect(Buffer.from(fresh).equals(committed)).toBe(true);
    expect(Buffer.from(fresh).toString('base64')).toBe(KERNELS_WASM_BASE64);
  }, 30_000);
});

describe('token tables without v² additions (issue 23)', () => {
  /** The loop the tables must reproduce bit for bit: the `leaves` kernel's in-order sum. */
  function naive(v: number, floor: number, hit: number): TokenTables | null {
    const z = new Float64Array(v);
    const lo = new Float64Array(v);
    const hi = new Float64Array(v);
    for (let x = 0; x < v; x++) {
      let sum = 0;
      for (let b = 0; b < v; b++) sum += b === x ? hit : floor;
      if (!(sum > 0) || !Number.isFinite(sum)) return null;
      z[x] = sum;
      lo[x] = floor * (1 / sum);
      hi[x] = hit * (1 / sum);
    }
    return { z, lo, hi };
  }
  const same = (a: Float64Array, b: Float64Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

  it('tokenTables is the in-order sum bit for bit: process values, ties, subnormals, overflow', () => {
    const rng = createRng(23);
    const values = [0, 1, 0.5, 0.25, 2 ** -52, 2 ** -53, 3 * 2 ** -54, 0.1, 1 / 3, 5e-324, 1e-310, 2 ** -1022, 1e300, 2 ** 1023, 1 - 2 ** -53];
    let checked = 0;
    for (const v of [1, 2, 3, 8, 32, 257, 1000]) {
      const pairs: [number, number][] = values.flatMap((f) => values.map((h): [number, number] => [f, h]));
      for (let i = 0; i < 20; i++) {
        const eps = rng.nextFloat();
        pairs.push([eps / v, 1 - eps + eps / v]); // the ε process
        pairs.push([rng.nextFloat() * 2 ** (rng.nextInt(80) - 70), rng.nextFloat() * 2 ** (rng.nextInt(20) - 10)]);
        pairs.push([rng.nextInt(64) * 2 ** -rng.nextInt(60), rng.nextInt(64) * 2 ** -rng.nextInt(10)]); // dyadic: rounding ties
      }
      for (const [floor, hit] of pairs) {
        const want = naive(v, floor, hit);
        const got = tokenTables(v, floor, hit);
        if (want === null) expect(got).toBeNull();
        else expect(got !== null && same(got.z, want.z) && same(got.lo, want.lo) && same(got.hi, want.hi), `v ${v} floor ${floor} hit ${hit}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1500);
    for (let i = 0; i < 3000; i++) {
      const a = rng.nextFloat() * 2 ** (rng.nextInt(60) - 40);
      const f = (rng.nextInt(3) === 0 ? rng.nextInt(16) : rng.nextFloat()) * 2 ** (rng.nextInt(80) - 70);
      const n = rng.nextInt(3000);
      let loop = a;
      for (let k = 0; k < n; k++) loop += f;
      expect(Object.is(addRepeatedly(a, f, n), loop), `${a} + ${n} × ${f}`).toBe(true);
    }
  });

  it('v = 46 340: the tables in milliseconds (the v² loop took seconds per batch)', () => {
    const started = Date.now();
    const t = tokenTables(46340, 0.5 / 46340, 0.5 + 0.5 / 46340);
    expect(Date.now() - started).toBeLessThan(1000);
    let sum = 0;
    for (let b = 0; b < 46340; b++) sum += b === 46339 ? 0.5 + 0.5 / 46340 : 0.5 / 46340;
    expect(t!.z[46339]).toBe(sum);
  });
});
