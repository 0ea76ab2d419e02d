/**
 * Theory for real noise (issue 23 items 5 and 13): on the real binary, the default prediction for
 * mask, uniform and gaussian noise is population dynamics (the mean-field map holds only for the
 * ε-process), every printed threshold names its process and method, a method that does not apply
 * is labelled so in the table, the JSON, the CSV and the report, and `--csv` keeps the theory
 * columns the table shows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSweep } from '../src/sweep/index.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-theory-real-');

/** Lines of a table printed by the binary: the header cells, then one object per row. */
function table(stdout: string, firstCell: string): Record<string, string>[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.trimStart().startsWith(`${firstCell} `));
  expect(start, stdout).toBeGreaterThanOrEqual(0);
  const header = lines[start];
  // Columns are right-aligned and separated by two spaces; a cell may hold one space ("0.984 (n/a)").
  const ends: number[] = [];
  for (const m of header.matchAll(/\S+(?: \S+)*/g)) ends.push(m.index! + m[0].length);
  const names = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => m[0]);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s*\d/.test(line)) break;
    const row: Record<string, string> = {};
    names.forEach((name, c) => (row[name] = line.slice(c === 0 ? 0 : ends[c - 1], ends[c]).trim()));
    rows.push(row);
  }
  return rows;
}

/** Every line of the output that prints a critical noise or threshold. */
const thresholdLines = (stdout: string) => stdout.split('\n').filter((l) => /critical|threshold/.test(l) && /\d\.\d{4}/.test(l));

describe('hierdiff theory: the method that applies is the default', () => {
  it('--process mask predicts by population dynamics, near simulation, not the mean-field 0.94-0.99', () => {
    const out = join(dir, 'mask.json');
    const r = runCli(['theory', '--process', 'mask', '--depth', '4', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const rows = table(r.stdout, 'L');
    expect(rows.map((x) => x.eps)).toEqual(['0.1', '0.15', '0.2', '0.25', '0.3', '0.35', '0.4']);
    for (const row of rows) expect(row.method).toBe('population');
    // Simulation (docs/theory.md, same sizes) gives about 0.87 at ε = 0.1 and 0.26 at ε = 0.4; the mean field 0.994 and 0.940.
    expect(Number(rows[0].P0)).toBeGreaterThan(0.75);
    expect(Number(rows[0].P0)).toBeLessThan(0.95);
    expect(Number(rows[6].P0)).toBeLessThan(0.4);
    // The mean-field ε* is still printed, but as the mean field's, and not as mask's threshold.
    for (const line of thresholdLines(r.stdout)) {
      expect(line, r.stdout).toMatch(/mean field|population dynamics/);
      if (line.includes('mask critical')) expect(line, r.stdout).toMatch(/does not apply/);
    }
    expect(r.stdout).not.toMatch(/mask critical eps = 0\.7312/);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.parameters.method).toBe('population');
    expect(json.rows.every((x: { method: string; applies: boolean }) => x.method === 'population' && x.applies)).toBe(true);
    expect(json.criticalNoiseMethod).toBe('mean-field');
    expect(json.criticalNoiseApplies).toBe(false);
  });

  it.each([['uniform'], ['gaussian']])('--process %s defaults to population dynamics', (process) => {
    const r = runCli(['theory', '--process', process, '--depth', '2', '--noise-levels', '0.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(table(r.stdout, 'L')[0].method).toBe('population');
  });

  it('--process eps keeps the mean-field map (its own theory), labelled as applying', () => {
    const out = join(dir, 'eps.json');
    const r = runCli(['theory', '--depth', '8', '--noise-levels', '0.7', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const row = table(r.stdout, 'L')[0];
    expect(row.method).toBe('mean-field');
    expect(row.P0).toBe('0.7663'); // F^8(p_L) at ε = 0.7, as before
    expect(r.stdout).not.toContain('n/a');
    expect(r.stdout).not.toContain('does not apply');
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.rows[0]).toMatchObject({ method: 'mean-field', applies: true });
    expect(json.criticalNoiseApplies).toBe(true);
    // Population options still need population dynamics with the ε-process.
    expect(runCli(['theory', '--population', '50']).stderr).toMatch(/--population without --method population or --threshold/);
  });

  it('--method mean-field on mask is allowed but labelled n/a in the table and the JSON', () => {
    const out = join(dir, 'mask-mf.json');
    const r = runCli(['theory', '--process', 'mask', '--method', 'mean-field', '--depth', '4', '--noise-levels', '0.2', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const row = table(r.stdout, 'L')[0];
    expect(row.method).toMatch(/^mean-field \(n\/a\)$/);
    expect(r.stdout).toMatch(/n\/a: the mean-field map does not apply to mask/);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.rows[0]).toMatchObject({ method: 'mean-field', applies: false });
  });

  it('--method population --threshold: each threshold names its process and method', () => {
    const out = join(dir, 'uniform-threshold.json');
    const r = runCli([
      'theory',
      '--method',
      'population',
      '--process',
      'uniform',
      '--threshold',
      '--threshold-depth',
      '8',
      '--population',
      '100',
      '--depth',
      '2',
      '--noise-levels',
      '0.15',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = thresholdLines(r.stdout);
    const meanField = lines.filter((l) => l.includes('0.4815'));
    expect(meanField, r.stdout).toHaveLength(1);
    expect(meanField[0]).toMatch(/uniform critical eps \(mean field\) = 0\.4815.*does not apply/);
    const population = lines.filter((l) => /\(population dynamics/.test(l));
    expect(population, r.stdout).toHaveLength(1);
    expect(population[0]).toMatch(/uniform critical eps \(population dynamics, L=8\) = 0\.\d{4}/);
    expect(population[0]).not.toContain('does not apply');
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.threshold).toMatchObject({ process: 'uniform', method: 'population', applies: true, depth: 8 });
    expect(json.criticalNoiseMethod).toBe('mean-field');
    expect(json.criticalNoiseApplies).toBe(false);
  });
});

describe('hierdiff forward-backward --theory: labels and the CSV', () => {
  const run = (process: string, noise: string, name: string) => {
    const csv = join(dir, `${name}.csv`);
    const out = join(dir, `${name}.json`);
    const r = runCli([
      'forward-backward',
      '--process',
      process,
      '--depth',
      '2',
      '--noise-levels',
      noise,
      '--samples',
      '40',
      '--trajectories',
      '1',
      '--workers',
      '1',
      '--theory',
      '--csv',
      csv,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...lines] = readFileSync(csv, 'utf8').trim().split('\n');
    const names = header.split(',');
    const csvRows = lines.map((l) => Object.fromEntries(l.split(',').map((x, i) => [names[i], x])));
    return { r, rows: table(r.stdout, 'L'), csvRows, names, json: JSON.parse(readFileSync(out, 'utf8')) };
  };

  it('mask: the mean-field column is marked n/a with a note; the CSV has the same theory columns', () => {
    const { r, rows, csvRows, names, json } = run('mask', '0.2', 'fb-mask');
    expect(rows[0]['P0 mean-field']).toMatch(/^0\.\d{3} \(n\/a\)$/);
    expect(rows[0]['P0 population']).toMatch(/^0\.\d{3}$/);
    expect(r.stdout).toMatch(/n\/a: the mean-field map does not apply to mask/);
    expect(names).toEqual(expect.arrayContaining(['classKeptMeanField', 'meanFieldApplies', 'classKeptPopulation', 'populationApplies']));
    expect(csvRows[0]).toMatchObject({ process: 'mask', meanFieldApplies: 'false', populationApplies: 'true' });
    const theory = json.rows[0].theory;
    expect(Number(csvRows[0].classKeptMeanField)).toBe(theory.meanField.classKept);
    expect(Number(csvRows[0].classKeptPopulation)).toBe(theory.population.classKept);
    expect(rows[0]['P0 mean-field'].slice(0, 5)).toBe(theory.meanField.classKept.toFixed(3));
    expect(theory.meanField.applies).toBe(false);
    expect(theory.population.applies).toBe(true);
  });

  it('eps: both theories apply; no n/a; the CSV still carries them', () => {
    const { r, rows, csvRows, json } = run('eps', '0.7', 'fb-eps');
    expect(rows[0]['P0 mean-field']).toMatch(/^0\.\d{3}$/);
    expect(r.stdout).not.toContain('n/a');
    expect(csvRows[0]).toMatchObject({ process: 'eps', meanFieldApplies: 'true', populationApplies: 'true' });
    expect(Number(csvRows[0].classKeptMeanField)).toBe(json.rows[0].theory.meanField.classKept);
    expect(json.rows[0].theory.meanField.applies).toBe(true);
  });

  it('without --theory the CSV has no theory columns', () => {
    const csv = join(dir, 'plain.csv');
    const r = runCli(['forward-backward', '--process', 'mask', '--depth', '2', '--noise-levels', '0.2', '--samples', '20', '--trajectories', '1', '--workers', '1', '--csv', csv]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(csv, 'utf8').split('\n')[0]).not.toMatch(/MeanField|Population|Applies/);
  });
});

describe('hierdiff report: the mean-field ε* is the ε-process’s', () => {
  const results = join(dir, 'sweep.jsonl');
  beforeAll(async () => {
    await runSweep(
      { vocab: 8, synonyms: 3, tuple: 2, depths: [2], grammars: 1, noiseLevels: { eps: [0.3, 0.6], mask: [0.1, 0.4] }, samples: 10, trajectories: 1 },
      { out: results, workers: 1, command: 'hierdiff sweep (test)' },
    );
  });

  it('labels the threshold with process and method, and says where the mean field does not apply', () => {
    const out = join(dir, 'report');
    const r = runCli(['report', results, '--out', out, '--population', '20']);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/ε-process critical ε \(mean field\)/);
    expect(html).toMatch(/mask: mean field does not apply/);
    const theory = JSON.parse(readFileSync(join(out, 'theory.json'), 'utf8'));
    expect(theory.meanField).toMatchObject({ process: 'eps', method: 'mean-field', applies: true });
    expect(theory.population[0]).toMatchObject({ process: 'mask', method: 'population', applies: true });
  });
});
