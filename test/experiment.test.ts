import { describe, expect, it } from 'vitest';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { runCell } from '../src/experiment/forwardBackward.ts';
import { runGrid, runGridParallel, type GridProgress } from '../src/experiment/grid.ts';
import { summariseCells, type ForwardBackwardRow } from '../src/experiment/summary.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import type { ProcessName } from '../src/noise/process.ts';
import { grammarAverageTolerance, standardErrorTolerance } from './tolerance.ts';

const schedule = linearSchedule();
const grammarFor = (seed: number, depth: number) => sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth }, seed);

function rows(depths: number[], process: ProcessName, noises: number[], samples: number, grammars: number, trajectories = 2): ForwardBackwardRow[] {
  const grammarSeeds = Array.from({ length: grammars }, (_, i) => 100 + i);
  return summariseCells(runGrid(grammarFor, { grammarSeeds, depths, processes: [process], noises }, { samples, trajectories, schedule }));
}

function find(rs: ForwardBackwardRow[], depth: number, noise: number): ForwardBackwardRow {
  const r = rs.find((x) => x.depth === depth && x.noise === noise);
  if (!r) throw new Error(`no row L=${depth} noise=${noise}`);
  return r;
}

/** Tolerance of a row's P_0 against a docs/science.md §4 reference value (grammarAverageTolerance). */
function referenceTolerance(r: ForwardBackwardRow): number {
  // Several grammar seeds and many data: every spread here is estimable (not null).
  return grammarAverageTolerance(r.classKeptSE!, r.classKeptGrammarSD!, r.grammarSeeds.length);
}

describe('forward–backward, ε-process, v32 m8 s2 (docs/science.md §4 table)', () => {
  const reference: Record<number, Record<number, number>> = {
    2: { 0.6: 0.553, 0.7: 0.357, 0.76: 0.236 },
    4: { 0.6: 0.757, 0.7: 0.436, 0.76: 0.186 },
    6: { 0.6: 0.911, 0.7: 0.575, 0.76: 0.109 },
  };
  const rs = rows([2, 4, 6], 'eps', [0.6, 0.7, 0.76], 200, 4);

  it.each([2, 4, 6].flatMap((L) => [0.6, 0.7, 0.76].map((eps) => [L, eps])))('L=%i ε=%f matches the reference P_0', (L, eps) => {
    const r = find(rs, L, eps);
    expect(Math.abs(r.classKept - reference[L][eps])).toBeLessThanOrEqual(referenceTolerance(r));
  });

  it('the sampled and marginal estimators of P_0 agree within their standard errors', () => {
    for (const r of rs) {
      expect(Math.abs(r.classKept - r.classKeptSampled)).toBeLessThanOrEqual(standardErrorTolerance(Math.hypot(r.classKeptSE!, r.classKeptSampledSE!)));
    }
  });

  it('the transition sharpens with depth: deeper trees keep more below ε* and less above', () => {
    expect(find(rs, 6, 0.6).classKept).toBeGreaterThan(find(rs, 2, 0.6).classKept + 0.2);
    expect(find(rs, 6, 0.76).classKept).toBeLessThan(find(rs, 2, 0.76).classKept - 0.08);
  });
});

describe('forward–backward, per-level profile and real noise', () => {
  it('at L = 7, ε = 0.76 the class is (nearly) gone while most tokens are kept (docs/science.md §4)', () => {
    const [r] = rows([7], 'eps', [0.76], 150, 2);
    const expected = [0.08, 0.152, 0.239, 0.333, 0.417, 0.494, 0.557, 0.612];
    r.levelKept.forEach((p, l) => expect(Math.abs(p - expected[l])).toBeLessThanOrEqual(standardErrorTolerance(r.levelKeptSE[l]!) + 0.04));
    for (let l = 1; l <= 7; l++) expect(r.levelKept[l]).toBeGreaterThan(r.levelKept[l - 1]);
    expect(r.tokenKept).toBe(r.levelKept[7]);
  });

  // Curves of different depths cross at the threshold: deeper keeps more before, less after.
  it.each([
    ['mask', 0.15, 0.36],
    ['uniform', 0.08, 0.22],
    ['gaussian', 0.08, 0.14],
  ] as [ProcessName, number, number][])('%s noise: L = 6 beats L = 2 at %f and loses at %f (crossing per docs/science.md §4)', (process, below, above) => {
    const rs = rows([2, 6], process, [below, above], 200, 2);
    expect(find(rs, 6, below).classKept).toBeGreaterThan(find(rs, 2, below).classKept);
    expect(find(rs, 6, above).classKept).toBeLessThan(find(rs, 2, above).classKept);
  });

  it('masking at L = 8 matches the docs/science.md §4 reference around ε*_mask ≈ 0.26', () => {
    const rs = rows([8], 'mask', [0.2, 0.3], 100, 2);
    expect(Math.abs(find(rs, 8, 0.2).classKept - 0.862)).toBeLessThanOrEqual(referenceTolerance(find(rs, 8, 0.2)) + 0.03);
    expect(Math.abs(find(rs, 8, 0.3).classKept - 0.342)).toBeLessThanOrEqual(referenceTolerance(find(rs, 8, 0.3)) + 0.03);
  });
});

describe('correlated changes (docs/science.md §4)', () => {
  it('χ equals Σ_ij C_ij / Σ_i C_ii rebuilt from the distance profile, and C(0) is the mean variance', () => {
    const g = grammarFor(1, 4);
    const stats = runCell(g, { grammarSeed: 1, depth: 4, process: 'eps', noise: 0.7 }, { samples: 40, trajectories: 16, schedule, correlations: true });
    const d = 16;
    const c = stats.correlationByDistance!;
    const numerator = d * c[0] + 2 * c.slice(1).reduce((a, x, r) => a + (d - (r + 1)) * x, 0);
    expect(stats.chiNumerator).toBeCloseTo(numerator, 9);
    expect(stats.chiDenominator).toBeCloseTo(d * c[0], 9);
    // Tree distance 0 is the diagonal too.
    expect(stats.correlationByTreeDistance![0]).toBeCloseTo(c[0], 12);
    const [row] = summariseCells([stats]);
    expect(row.chi).toBeGreaterThan(1);
  });

  it('χ is null with a single trajectory', () => {
    const [r] = rows([2], 'eps', [0.7], 20, 1, 1);
    expect(r.chi).toBeNull();
  });
});

describe('determinism', () => {
  it('the same cell gives identical statistics, and data do not depend on the noise level', () => {
    const g = grammarFor(3, 3);
    const cell = { grammarSeed: 3, depth: 3, process: 'uniform' as const, noise: 0.2 };
    const a = runCell(g, cell, { samples: 300, trajectories: 3, schedule });
    const b = runCell(g, cell, { samples: 300, trajectories: 3, schedule });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    // With no noise the exact posterior is the datum itself: everything is kept.
    const clean = runCell(g, { ...cell, noise: 0 }, { samples: 300, trajectories: 2, schedule });
    expect(clean.classMarginal.sum).toBeCloseTo(300, 9);
    expect(clean.levelSampled.every((m) => m.sum === 300)).toBe(true);
  });
});

describe('runGridParallel', () => {
  it('one pool for the grid, 2 workers: identical to runGrid, progress in order', async () => {
    // Depth 8 (256 tokens): 256 data per batch, so 600 data are 3 batches per cell.
    const small = (seed: number, depth: number) => sampleRules({ vocab: 8, synonyms: 2, tuple: 2, depth }, seed);
    const spec = { grammarSeeds: [0, 1], depths: [3, 8], processes: ['eps', 'mask'] as ProcessName[], noises: [0.3] };
    const options = { samples: 600, trajectories: 2, schedule };
    const progress: GridProgress[] = [];
    const parallel = await runGridParallel(small, spec, options, { workers: 2 }, (p) => progress.push(p));
    expect(JSON.stringify(parallel)).toBe(JSON.stringify(runGrid(small, spec, options)));
    expect(progress.at(-1)).toEqual({ cellsDone: 8, cellsTotal: 8, samplesDone: 4800, samplesTotal: 4800 });
    for (let i = 1; i < progress.length; i++) expect(progress[i].samplesDone).toBeGreaterThanOrEqual(progress[i - 1].samplesDone);
  }, 60_000);
});
