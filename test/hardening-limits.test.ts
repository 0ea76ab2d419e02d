import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceBackend } from '../src/bp/reference.ts';
import { runGrid, runGridParallel } from '../src/experiment/grid.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { deepGrammar } from '../src/theory/deepGrammar.ts';
import { annealedPopulationDynamics } from '../src/theory/annealedPopulation.ts';
import { populationDynamics } from '../src/theory/quenchedPopulation.ts';
import { expectOneLineError, paramError } from './helpers/errors.ts';
import { validateSweepConfig } from '../src/sweep/config.ts';
import { sweepBackendFor } from '../src/sweep/task.ts';
import { BIN } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

/**
 * Hardening class 1, "accepted sizes that cannot run" (docs/limits.md): requests whose whole need
 * exceeds the memory limit are refused up front in one line (exit 2, nothing written), the fast
 * kernels fall back to the reference backend where they would not fit, and sample output is
 * streamed. Each refusal must come back within 10 s: the old crash or hang shows as a timeout.
 */

const dir = tempDir('hierdiff-limits-');

function run(args: string[], limit: string | undefined, timeout = 10_000): { code: number | null; stdout: string; stderr: string; ms: number } {
  const env = { ...process.env };
  delete env.HIERDIFF_MEMORY_LIMIT;
  if (limit !== undefined) env.HIERDIFF_MEMORY_LIMIT = limit;
  const start = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - start };
}

/** Refused up front: exit 2 and one `hierdiff: …` line matching `pattern`, nothing on stdout, within 10 s. */
function expectRefused(r: ReturnType<typeof run>, pattern: RegExp): void {
  expectOneLineError(r, pattern);
  expect(r.stdout).toBe('');
  expect(r.ms).toBeLessThan(10_000);
}

describe('sizes that cannot run are refused up front (exit 2, one line, nothing written)', () => {
  it('forward-backward --depth 20 --samples 1: neither the fast kernels nor the reference fit in 1 GiB', () => {
    const r = run(['forward-backward', '--depth', '20', '--samples', '1', '--out', 'fb20.json'], '1G');
    expectRefused(r, /^hierdiff: invalid --depth 20 \(needs ≈ [\d.]+ GiB of memory .*the limit is/);
    expect(existsSync(join(dir, 'fb20.json'))).toBe(false);
  });

  it('sample --samples 10000000 over a 256 MiB limit', () => {
    const r = run(['sample', '--samples', '10000000'], '256M');
    expectRefused(r, /^hierdiff: invalid --samples 10000000 \(needs ≈ \d+ MiB of memory, the limit is 256 MiB: /);
  });

  it('sample --depth 24 --samples 1 --out s.json over a 64 MiB limit', () => {
    const r = run(['sample', '--depth', '24', '--samples', '1', '--out', 's.json'], '64M');
    expectRefused(r, /^hierdiff: invalid --depth 24 \(needs ≈ 128 MiB of memory, the limit is 64 MiB: /);
    expect(readdirSync(dir).filter((f) => f.startsWith('s.json'))).toEqual([]);
  });

  it('theory --method population --population 10000000 --depth 30', () => {
    const r = run(['theory', '--method', 'population', '--population', '10000000', '--depth', '30', '--out', 't.json'], '4G');
    expectRefused(r, /^hierdiff: invalid --population 10000000 \(needs ≈ \d+ GiB of memory, the limit is 4 GiB: /);
    expect(existsSync(join(dir, 't.json'))).toBe(false);
  });

  it('theory --annealed with a population too large for the limit', () => {
    const r = run(['theory', '--method', 'population', '--annealed', '--population', '10000000', '--depth', '3'], '1G');
    expectRefused(r, /^hierdiff: invalid --population 10000000 \(needs ≈ [\d.]+ GiB of memory, the limit is 1 GiB: annealed/);
  });

  it('a forward-backward grid of 4e9 cells', () => {
    const args = ['forward-backward', '--grammars', '10000', '--noise-levels', '0:1:100000', '--process', 'eps,uniform,mask,gaussian', '--depth', '2', '--out', 'grid.json'];
    expectRefused(run(args, undefined), /^hierdiff: invalid grid: .* = 4000000000 cells \(at most 1000000 cells per run: .*sweep/);
    expect(existsSync(join(dir, 'grid.json'))).toBe(false);
  });

  it('a grid under the cell cap whose results exceed the memory limit', () => {
    const args = ['forward-backward', '--grammars', '1000', '--noise-levels', '0:1:200', '--depth', '2', '--samples', '1'];
    expectRefused(run(args, '64M'), /^hierdiff: invalid grid: .* = 200000 cells \(needs ≈ [\d.]+ [MG]iB of memory, the limit is 64 MiB: /);
  });

  it('a grid whose --out JSON would exceed the longest string', () => {
    const args = ['forward-backward', '--grammars', '1000', '--noise-levels', '0:1:200', '--depth', '2', '--samples', '1', '--out', 'long.json'];
    expectRefused(run(args, undefined), /^hierdiff: invalid grid: .* = 200000 cells \(its --out JSON would be ≈ [\d.]+ MiB, one JSON text is at most 512 MiB: /);
    expect(existsSync(join(dir, 'long.json'))).toBe(false);
  });

  it('sweep: a grid of 4e9 cells, and a depth neither the fast kernels nor the reference backend can hold', () => {
    const grid = ['sweep', '--grammars', '10000', '--noise-levels', '0:1:100000', '--process', 'eps,uniform,mask,gaussian', '--depth', '2', '--out', 'sw.jsonl'];
    expectRefused(run(grid, '4G'), /^hierdiff: invalid grid: 4000000000 cells \(needs ≈ \d+ GiB of memory, the limit is 4 GiB: /);
    // Depth 20 is past the fast kernels' WebAssembly memory: the sweep falls back to the
    // reference backend, whose batch (≈ 2 GiB) does not fit 1 GiB.
    const deep = ['sweep', '--depth', '20', '--samples', '1', '--noise-levels', '0.5', '--out', 'sw20.jsonl'];
    expectRefused(run(deep, '1G'), /^hierdiff: invalid --depth 20 \(needs ≈ [\d.]+ GiB of memory for one batch of exact BP on the reference backend, the limit is [\d.]+ (MiB|GiB): lower the depth/);
    expect(readdirSync(dir).filter((f) => f.startsWith('sw'))).toEqual([]);
  });

  it('sweep: the reference fallback is a function of the config alone (fast kernels to L = 19 at v = 32, s = 2)', () => {
    const config = validateSweepConfig({ vocab: 32, synonyms: 8, tuple: 2, depths: [19, 20], processes: ['eps'], noiseLevels: { eps: [0.5] }, samples: 1, trajectories: 1 });
    expect(sweepBackendFor(config, 19)).toBeUndefined();
    expect(sweepBackendFor(config, 20)).toBe(referenceBackend);
    expect(sweepBackendFor(config, 2)).toBeUndefined();
  });

  it('an invalid HIERDIFF_MEMORY_LIMIT is refused', () => {
    expectRefused(run(['sample'], 'lots'), /^hierdiff: invalid HIERDIFF_MEMORY_LIMIT "lots"/);
  });
});

describe('large but feasible requests still run', () => {
  it('sample streams JSON and CSV with the layout of one JSON.stringify', () => {
    const r = run(['sample', '--depth', '12', '--samples', '40', '--out', 'big.json', '--csv', 'big.csv'], undefined, 60_000);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(join(dir, 'big.json'), 'utf8');
    const json = JSON.parse(text) as { data: { class: number; tokens: number[]; levels: number[][] }[] };
    expect(text).toBe(`${JSON.stringify(json, null, 2)}\n`);
    expect(json.data).toHaveLength(40);
    expect(json.data[7].levels).toHaveLength(13);
    expect(json.data[7].tokens).toEqual(json.data[7].levels[12]);
    expect(json.data[7].class).toBe(json.data[7].levels[0][0]);
    const csv = readFileSync(join(dir, 'big.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(41);
    expect(csv[0].split(',')).toHaveLength(4097);
    expect(csv[8]).toBe([json.data[7].class, ...json.data[7].tokens].join(','));
    const text2 = run(['sample', '--depth', '12', '--samples', '40'], undefined, 60_000);
    expect(text2.stdout.split('\n')[7]).toBe(`class ${json.data[7].class}: ${json.data[7].tokens.join(' ')}`);
  });

  it('forward-backward --depth 20 falls back to the reference backend instead of crashing', () => {
    const r = run(['forward-backward', '--depth', '20', '--samples', '1', '--noise-levels', '0.5', '--trajectories', '1', '--no-marginals', '--workers', '1', '--out', 'fb.json'], '3G', 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/depth 20: the fast backend needs ≈ [\d.]+ GiB .*using the reference backend/);
    const out = JSON.parse(readFileSync(join(dir, 'fb.json'), 'utf8')) as { parameters: { backend: string; backendByDepth: Record<string, string> } };
    expect(out.parameters.backend).toBe('fast');
    expect(out.parameters.backendByDepth).toEqual({ '20': 'reference' });
  }, 130_000);
});

describe('library callers are held to the same limits (in process)', () => {
  function withLimit<T>(limit: string, f: () => T): T {
    const saved = process.env.HIERDIFF_MEMORY_LIMIT;
    process.env.HIERDIFF_MEMORY_LIMIT = limit;
    try {
      return f();
    } finally {
      if (saved === undefined) delete process.env.HIERDIFF_MEMORY_LIMIT;
      else process.env.HIERDIFF_MEMORY_LIMIT = saved;
    }
  }
  const sizes = { vocab: 32, synonyms: 8, tuple: 2 };

  it('populationDynamics and annealedPopulationDynamics refuse a population over the limit before allocating', () => {
    const g = deepGrammar(sizes, 30, 0);
    const e = withLimit('256M', () => paramError(() => populationDynamics(g, { process: 'eps', noise: 0.5, population: 1e7, levels: false })));
    expect(e.param).toBe('population');
    expect(e.message).toMatch(/^invalid population 10000000 \(needs ≈ [\d.]+ GiB of memory, the limit is 256 MiB/);
    const a = withLimit('64M', () => paramError(() => annealedPopulationDynamics({ ...sizes, depth: 30 }, { process: 'eps', noise: 0.5, population: 1e7 })));
    expect(a.param).toBe('population');
    // Within the limit they still run.
    expect(withLimit('256M', () => populationDynamics(deepGrammar({ vocab: 4, synonyms: 2, tuple: 2 }, 3, 0), { process: 'eps', noise: 0.5, population: 50 })).classKept).toBeGreaterThan(0);
  });

  it('runGrid and runGridParallel refuse grids and depths that cannot fit, before running', () => {
    const grammarFor = (seed: number, depth: number) => sampleRules({ ...sizes, depth }, seed);
    const options = { samples: 1, trajectories: 1, schedule: linearSchedule() };
    const huge = { grammarSeeds: Array.from({ length: 1000 }, (_, i) => i), depths: [2], processes: ['eps' as const], noises: Array.from({ length: 2000 }, (_, i) => i / 2000) };
    expect(paramError(() => runGrid(grammarFor, huge, options)).param).toBe('grid');
    const deep = { grammarSeeds: [0], depths: [20], processes: ['eps' as const], noises: [0.5] };
    expect(withLimit('1G', () => paramError(() => runGrid(grammarFor, deep, options))).param).toBe('depth');
    return expect(withLimit('1G', () => runGridParallel(grammarFor, deep, options, { workers: 1 }))).rejects.toThrow(/invalid --depth 20/);
  });
});
