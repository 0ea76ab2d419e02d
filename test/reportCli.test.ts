import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSweep } from '../src/sweep/index.ts';
import { reproduceConfig } from '../src/cli/commands/reproduce.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-report-');
const results = join(dir, 'tiny.jsonl');

beforeAll(async () => {
  // A tiny sweep with a mean-field transition (v = 8, m = 3, s = 2: p* = 0.4), two processes, χ.
  await runSweep(
    { vocab: 8, synonyms: 3, tuple: 2, depths: [2, 3], grammars: 2, noiseLevels: { eps: [0.3, 0.6, 0.8], mask: [0.1, 0.4] }, samples: 20, trajectories: 2 },
    { out: results, workers: 1, command: 'hierdiff sweep (test)' },
  );
});

describe('hierdiff report', () => {
  it('redraws report.html, SVG and PNG figures and theory.json from a saved results file', () => {
    const out = join(dir, 'report');
    const r = runCli(['report', results, '--out', out, '--population', '20']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const figures = readdirSync(join(out, 'figures')).sort();
    for (const name of ['class-kept-eps', 'class-kept-mask', 'levels-eps', 'collapse-eps', 'chi-eps', 'mean-field-map']) {
      expect(figures).toContain(`${name}.svg`);
      expect(figures).toContain(`${name}.png`);
      expect(
        readFileSync(join(out, 'figures', `${name}.png`))
          .subarray(0, 4)
          .toString('hex'),
      ).toBe('89504e47');
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<pre>hierdiff sweep (test)</pre>');
    expect(html.match(/data:image\/svg\+xml;base64,/g)).toHaveLength(6);
    expect(html).toContain('href="../tiny.jsonl"');
    const theory = JSON.parse(readFileSync(join(out, 'theory.json'), 'utf8'));
    expect(theory.meanField.pStar).toBeCloseTo(0.4, 12);
    expect(theory.population.map((p: { process: string }) => p.process)).toEqual(['mask']);
    // Nothing time- or machine-dependent: the same command again writes the same bytes.
    const files = ['report.html', 'theory.json', 'figures/class-kept-eps.png', 'figures/mean-field-map.svg'];
    const before = files.map((f) => readFileSync(join(out, f)));
    expect(runCli(['report', results, '--out', out, '--population', '20', '--overwrite']).code).toBe(0);
    files.forEach((f, i) => expect(readFileSync(join(out, f)).equals(before[i]), f).toBe(true));
  });

  it('rejects bad input with exit 2, one line, and writes nothing', () => {
    const cases: string[][] = [
      ['report', join(dir, 'missing.jsonl'), '--out', join(dir, 'bad1')],
      ['report', results, '--out', join(dir, 'bad2'), '--population', '-1'],
      ['report', results, '--out', join(dir, 'bad3'), '--population-grammars', 'x'],
      ['reproduce', '--quick', '--out', join(dir, 'bad4'), '--workers', '0'],
      ['reproduce', '--quick', '--out', join(dir, 'bad5'), '--population', 'lots'],
    ];
    const notResults = join(dir, 'not-results.jsonl');
    writeFileSync(notResults, '{"hello": 1}\n');
    cases.push(['report', notResults, '--out', join(dir, 'bad6')]);
    for (const args of cases) {
      const r = runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^hierdiff: invalid/);
      expect(existsSync(args[args.indexOf('--out') + 1]), args.join(' ')).toBe(false);
    }
  });
});

describe('hierdiff reproduce --quick', () => {
  it('runs the quick sweep end to end and writes results, every figure and report.html', () => {
    const out = join(dir, 'quick');
    const r = runCli(['reproduce', '--quick', '--out', out, '--workers', '2']);
    expect(r.code, r.stderr).toBe(0);
    const names = ['class-kept-eps', 'class-kept-mask', 'class-kept-uniform', 'class-kept-gaussian', 'levels-eps', 'collapse-eps', 'chi-eps', 'mean-field-map'];
    const figures = readdirSync(join(out, 'figures'));
    for (const n of names) expect(figures).toEqual(expect.arrayContaining([`${n}.png`, `${n}.svg`]));
    const header = JSON.parse(readFileSync(join(out, 'results.jsonl'), 'utf8').split('\n')[0]);
    // Run-only options (--out, --workers) are left out of the recorded command.
    expect(header.run.command).toBe('hierdiff reproduce --quick');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<pre>hierdiff reproduce --quick</pre>');
  }, 180_000);
});

describe('reproduce sweep', () => {
  it('covers v32 m8 s2, L = 2..8, all four processes, with grids around each transition', () => {
    for (const quick of [true, false]) {
      const c = reproduceConfig(quick);
      expect([c.vocab, c.synonyms, c.tuple, c.depths]).toEqual([32, 8, 2, [2, 4, 6, 8]]);
      expect(c.processes).toEqual(['eps', 'mask', 'uniform', 'gaussian']);
      const around = { eps: 0.731, mask: 0.26, uniform: 0.145, gaussian: 0.11 } as const;
      for (const p of c.processes) {
        const levels = c.noiseLevels[p]!;
        expect(Math.min(...levels)).toBeLessThan(around[p]);
        expect(Math.max(...levels)).toBeGreaterThan(around[p]);
      }
      expect(c.trajectories).toBeGreaterThanOrEqual(2);
    }
    expect(reproduceConfig(false).grammars).toBeGreaterThanOrEqual(4);
  });
});
