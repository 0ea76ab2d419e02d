import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-cli-');
const small = ['--vocab', '8', '--synonyms', '2', '--tuple', '2'];

describe('hierdiff CLI', () => {
  it('grammar --rng python prints the published rules and exports JSON with the required fields', () => {
    const r = runCli(['grammar', '--vocab', '8', '--synonyms', '3', '--depth', '3', '--seed', '42', '--rng', 'python']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 -> (1,6) (0,1) (5,7)');
    const out = join(dir, 'g.json');
    expect(runCli(['grammar', '--vocab', '8', '--synonyms', '3', '--depth', '3', '--seed', '42', '--rng', 'python', '--out', out]).code).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect([json.vocab, json.classes, json.synonyms, json.tuple, json.depth]).toEqual([8, 8, 3, 2, 3]);
    expect(json.rules[2][7]).toEqual([
      [0, 4],
      [7, 0],
      [1, 6],
    ]);
    expect(json.run.command).toContain('hierdiff grammar');
  });

  it('sample and posterior run on a saved grammar; posterior JSON has levels[ℓ][node] vectors and logEvidence', () => {
    const g = join(dir, 'g2.json');
    expect(runCli(['grammar', ...small, '--depth', '2', '--out', g]).code).toBe(0);
    const s = runCli(['sample', '--grammar', g, '--samples', '1', '--out', join(dir, 's.json')]);
    expect(s.code).toBe(0);
    const tokens: number[] = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')).data[0].tokens;
    expect(tokens).toHaveLength(4);
    const out = join(dir, 'p.json');
    const p = runCli(['posterior', '--grammar', g, '--tokens', tokens.join(','), '--process', 'eps', '--noise-level', '0.3', '--out', out]);
    expect(p.code, p.stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.levels.map((l: number[][]) => l.length)).toEqual([1, 2, 4]);
    expect(json.levels[2][0]).toHaveLength(8);
    for (const level of json.levels) for (const vec of level) expect(vec.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 12);
    expect(Number.isFinite(json.logEvidence)).toBe(true);
    const masked = runCli(['posterior', '--grammar', g, '--tokens', ['?', ...tokens.slice(1)].join(','), '--process', 'mask', '--noise-level', '0.3']);
    expect(masked.code, masked.stderr).toBe(0);
    expect(masked.stdout).toContain('level 0');
  });

  it('forward-backward writes the required row fields, CSV, and byte-identical files for the same command', () => {
    const args = (out: string) => [
      'forward-backward',
      ...small,
      '--depth',
      '2,3',
      '--process',
      'eps,mask',
      '--noise-levels',
      '0.2:0.6:3',
      '--samples',
      '40',
      '--grammars',
      '2',
      '--out',
      out,
      '--csv',
      `${out}.csv`,
    ];
    const a = runCli(args(join(dir, 'a.json')));
    expect(a.code, a.stderr).toBe(0);
    expect(runCli([...args(join(dir, 'a.json')), '--overwrite']).code).toBe(0);
    expect(runCli(args(join(dir, 'b.json'))).code).toBe(0);
    const textA = readFileSync(join(dir, 'a.json'), 'utf8');
    const textB = readFileSync(join(dir, 'b.json'), 'utf8');
    // Only the --out argument recorded in the command differs.
    expect(textA.replace(/a\.json/g, 'X')).toBe(textB.replace(/b\.json/g, 'X'));
    const json = JSON.parse(textA);
    expect(json.run.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(json.parameters.grammarSeeds).toEqual([0, 1]);
    expect(json.rows).toHaveLength(12);
    for (const row of json.rows) {
      for (const k of ['depth', 'process', 'noise', 'samples', 'classKept', 'classKeptSampled', 'classKeptSE', 'levelKept', 'tokenKept', 'chi']) expect(row).toHaveProperty(k);
      expect(row.levelKept).toHaveLength(row.depth + 1);
      expect(row.samples).toBe(80);
    }
    expect(json.rows.map((r: { noise: number }) => r.noise).slice(0, 3)).toEqual([0.2, 0.4, 0.6]);
    expect(readFileSync(join(dir, 'a.json.csv'), 'utf8').split('\n')[0]).toContain('classKept');
  });

  it('forward-backward --workers 1 and --workers 2 write byte-identical results (and --workers is not recorded)', () => {
    // Cells of 2 batches (256 data per batch at depth 2 and depth 8), so two workers share each cell.
    const out = join(dir, 'workers.json');
    const args = (workers: string) => [
      'forward-backward',
      ...small,
      '--depth',
      '2,8',
      '--process',
      'eps,mask',
      '--noise-levels',
      '0.3',
      '--samples',
      '300',
      '--trajectories',
      '2',
      '--workers',
      workers,
      '--out',
      out,
      '--csv',
      `${out}.csv`,
    ];
    const one = runCli(args('1'));
    expect(one.code, one.stderr).toBe(0);
    const [jsonOne, csvOne] = [readFileSync(out, 'utf8'), readFileSync(`${out}.csv`, 'utf8')];
    const two = runCli([...args('2'), '--overwrite']);
    expect(two.code, two.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(jsonOne);
    expect(readFileSync(`${out}.csv`, 'utf8')).toBe(csvOne);
    expect(two.stdout).toBe(one.stdout);
    const json = JSON.parse(jsonOne);
    expect(json.run.command).not.toContain('--workers');
    expect(json.parameters).not.toHaveProperty('workers');
    expect(json.parameters.levelEstimator).toBe('marginal');
  });

  it('forward-backward --no-marginals: same data, posterior samples and P0; P_l and tokens kept are the sampled estimators, and say so', () => {
    const base = ['forward-backward', ...small, '--depth', '4', '--process', 'uniform', '--noise-levels', '0.2', '--samples', '200', '--trajectories', '2', '--workers', '1'];
    const withM = join(dir, 'with-marginals.json');
    const without = join(dir, 'no-marginals.json');
    const a = runCli([...base, '--out', withM]);
    const b = runCli([...base, '--no-marginals', '--out', without, '--csv', `${without}.csv`]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const [ra] = JSON.parse(readFileSync(withM, 'utf8')).rows;
    const jb = JSON.parse(readFileSync(without, 'utf8'));
    const [rb] = jb.rows;
    expect(jb.parameters.marginals).toBe(false);
    expect(jb.parameters.levelEstimator).toBe('sampled');
    for (const k of ['classKept', 'classKeptSE', 'classKeptSampled', 'levelKeptSampled', 'chi']) expect(rb[k], k).toEqual(ra[k]);
    expect(rb.levelKept).toEqual(rb.levelKeptSampled);
    expect(rb.tokenKept).toBe(rb.levelKeptSampled[4]);
    expect(ra.levelKept).not.toEqual(ra.levelKeptSampled);
    expect(b.stdout.split('\n')[0]).toMatch(/tokens kept \(sampled\).*P_l sampled/);
    expect(a.stdout.split('\n')[0]).not.toMatch(/tokens kept \(sampled|P_l sampled/);
    expect(readFileSync(`${without}.csv`, 'utf8').split('\n')[0]).toContain('tokenKeptSampled,tokenKeptSampledSE');
  });

  it('theory --method population runs on a saved grammar, and refuses it where it cannot apply', () => {
    const g = join(dir, 'g-theory.json');
    expect(runCli(['grammar', ...small, '--depth', '3', '--out', g]).code).toBe(0);
    const out = join(dir, 'theory.json');
    const r = runCli(['theory', '--method', 'population', '--grammar', g, '--process', 'mask', '--noise-levels', '0.3', '--population', '200', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.parameters.grammarFile).toBe(g);
    expect(json.rows[0].depth).toBe(3);
    expect(json.rows[0].levelKept).toHaveLength(4);
    const refused = runCli(['theory', '--grammar', g]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--grammar/);
  });

  const bad: [string, string[], RegExp][] = [
    ['out-of-range depth', ['forward-backward', '--depth', '0'], /depth/],
    ['m > v^(s−1)', ['grammar', '--vocab', '4', '--synonyms', '5'], /synonyms .*\[1, 4\]/],
    ['unknown process', ['forward-backward', '--process', 'gauss'], /process "gauss" \(expected eps, uniform, mask or gaussian\)/],
    ['malformed token list', ['posterior', ...small, '--depth', '2', '--tokens', '1,,2,3'], /tokens/],
    ['token ≥ v', ['posterior', ...small, '--depth', '2', '--tokens', '1,2,3,9'], /tokens.*\[0, 7\]/],
    ['wrong length', ['posterior', ...small, '--depth', '2', '--tokens', '1,2,3'], /tokens.*expected 4/],
    ['unreadable grammar file', ['forward-backward', '--grammar', '/nonexistent/g.json'], /grammar.*cannot read/],
    ['malformed noise range', ['forward-backward', ...small, '--noise-levels', '0.5:0.9'], /noise-levels/],
    ['noise out of range', ['forward-backward', ...small, '--noise-levels', '1.5'], /noise-levels.*\[0, 1\]/],
    ['bad samples', ['forward-backward', ...small, '--samples', '-3'], /samples/],
    ['bad workers', ['forward-backward', ...small, '--workers', '0'], /workers/],
    ['unknown rng', ['grammar', '--rng', 'numpy'], /rng "numpy" \(expected own or python\)/],
    ['unknown option', ['forward-backward', '--bogus'], /unknown option/],
  ];
  it.each(bad)('%s: one line naming the parameter, exit 2, no output file', (_label, args, pattern) => {
    const out = join(dir, `bad-${_label.replace(/\W+/g, '-')}.json`);
    const r = runCli([...args, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad-'))).toEqual([]);
  });

  it('a grammar file that is not valid JSON, or not a grammar, is rejected with exit 2', () => {
    const f = join(dir, 'broken.json');
    writeFileSync(f, '{"schema": "hierdiff.grammar", ');
    const r = runCli(['sample', '--grammar', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/grammar.*not valid JSON/);
    writeFileSync(f, '{"schema": "hierdiff.grammar", "schemaVersion": 1, "vocab": 4}');
    expect(runCli(['sample', '--grammar', f]).code).toBe(2);
  });
});
