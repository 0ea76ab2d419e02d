/**
 * Issue 23, item 13 ("output details"), on the real binary: spreads that cannot be estimated are
 * null (not 0) in JSON and empty in CSV; standard errors in tables keep two significant digits;
 * `evaluate` labels its validity per layer root → leaves and draws a progress bar; progress bars
 * never show "ETA 0s" at 0 % nor a non-finite ETA; `train`'s bar and summary give the same rate;
 * every command that writes a file says so on stderr ("wrote F", as `grammar --out` does).
 *
 * Progress bars are drawn only on a terminal: those cases run the binary under util-linux
 * `script`, which gives it a pseudo-terminal (Debian's bsdutils, always installed there).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { etaText, formatRate } from '../src/cli/progress.ts';
import { significant } from '../src/cli/table.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-details-');

const SCRIPT = '/usr/bin/script';
const haveScript = existsSync(SCRIPT);
if (!haveScript) console.warn(`warning: ${SCRIPT} (util-linux) not found: the progress-bar tests are skipped`);

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the binary on a pseudo-terminal; `frames` are the progress-bar redraws (ANSI codes removed), `text` the rest. */
function runInTerminal(args: string[], cwd: string): { code: number; frames: string[]; text: string } {
  const cmd = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  const r = spawnSync(SCRIPT, ['-qec', cmd, '/dev/null'], { cwd, encoding: 'utf8', timeout: 120_000 });
  // cli-progress draws each frame as ESC[1G <line> ESC[0K.
  const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');
  const frames = [...r.stdout.matchAll(/\x1b\[1G(.*?)\x1b\[0K/g)].map((m) => strip(m[1]));
  const text = strip(r.stdout.replace(/\x1b\[1G.*?\x1b\[0K/g, '')).replace(/\r/g, '');
  return { code: r.status ?? -1, frames, text };
}

const FB = ['forward-backward', '--depth', '2', '--process', 'eps', '--vocab', '4', '--synonyms', '2', '--workers', '1'];

/** The CSV's rows as header → cell records. */
function readCsv(path: string): Record<string, string>[] {
  const [head, ...rows] = readFileSync(path, 'utf8').trimEnd().split('\n');
  const names = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((x, i) => [names[i], x])));
}

describe('a spread that cannot be estimated is null, never 0', () => {
  it('one grammar seed: classKeptGrammarSD and chiSE are both null in JSON, empty in CSV; with two seeds both are numbers', () => {
    const cwd = mkdtempSync(join(dir, 'sd-'));
    const one = runCli([...FB, '--noise-levels', '0.5', '--samples', '20', '--out', 'one.json', '--csv', 'one.csv'], cwd);
    expect(one.code, one.stderr).toBe(0);
    const row = JSON.parse(readFileSync(join(cwd, 'one.json'), 'utf8')).rows[0];
    // Before: classKeptGrammarSD was 0 while chiSE was null.
    expect(row.classKeptGrammarSD).toBeNull();
    expect(row.chiSE).toBeNull();
    expect(row.chi).toEqual(expect.any(Number));
    expect(row.classKeptSE).toBeGreaterThan(0);
    const csv = readCsv(join(cwd, 'one.csv'))[0];
    expect(csv.classKeptGrammarSD).toBe('');
    expect(Number(csv.classKeptSE)).toBe(row.classKeptSE);

    const two = runCli([...FB, '--noise-levels', '0.5', '--samples', '20', '--grammars', '2', '--out', 'two.json'], cwd);
    expect(two.code, two.stderr).toBe(0);
    const row2 = JSON.parse(readFileSync(join(cwd, 'two.json'), 'utf8')).rows[0];
    expect(row2.classKeptGrammarSD).toEqual(expect.any(Number));
    expect(row2.chiSE).toEqual(expect.any(Number));
  });

  it('one datum: every standard error is null in JSON, empty in CSV and "-" in the table', () => {
    const cwd = mkdtempSync(join(dir, 'se-'));
    const r = runCli([...FB, '--noise-levels', '0.5', '--samples', '1', '--out', 'r.json', '--csv', 'r.csv'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const row = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8')).rows[0];
    // Before: 0 (a spread measured as zero) for each.
    for (const key of ['classKeptSE', 'classKeptSampledSE', 'tokenKeptSE', 'classKeptGrammarSD']) expect(row[key], key).toBeNull();
    expect(row.levelKeptSE).toEqual([null, null, null]);
    expect(row.levelKeptSampledSE).toEqual([null, null, null]);
    const csv = readCsv(join(cwd, 'r.csv'))[0];
    for (const key of ['classKeptSE', 'classKeptSampledSE', 'tokenKeptSE', 'classKeptGrammarSD']) expect(csv[key], key).toBe('');
    const [head, line] = r.stdout.trimEnd().split('\n');
    expect(line.trim().split(/\s+/)[head.trim().split(/\s+/).indexOf('SE')]).toBe('-');
  });
});

describe('standard errors in tables: significant digits', () => {
  it('a tiny non-zero SE keeps two significant digits (not "0.0000"); an exact zero prints "0"', () => {
    const cwd = mkdtempSync(join(dir, 'sig-'));
    const r = runCli(['forward-backward', '--depth', '2', '--process', 'eps', '--noise-levels', '0,0.001', '--samples', '200', '--workers', '1', '--out', 'r.json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8')).rows;
    const [head, ...lines] = r.stdout.trimEnd().split('\n');
    const col = head.trim().split(/\s+/).indexOf('SE');
    const se = lines.map((l) => l.trim().split(/\s+/)[col]);
    expect(rows[0].classKeptSE).toBe(0);
    expect(se[0]).toBe('0');
    // ε = 0.001: SE ≈ 6e-6, printed "0.0000" before.
    expect(rows[1].classKeptSE).toBeGreaterThan(0);
    expect(rows[1].classKeptSE).toBeLessThan(5e-5);
    expect(se[1]).not.toMatch(/^0\.0+$/);
    expect(Number(se[1])).toBe(Number(rows[1].classKeptSE.toPrecision(2)));
  });

  it('significant(): two significant digits, exponent form below 1e-4, "0" for zero, "-" for null', () => {
    expect([0.0123, 0.00068, 0.0007, 2.3e-5, 0, 1.234, null, Number.NaN].map((x) => significant(x))).toEqual(['0.012', '0.00068', '0.00070', '2.3e-5', '0', '1.2', '-', '-']);
  });
});

describe('progress bars: an ETA only once there is an estimate, never a non-finite one', () => {
  it('etaText and formatRate: "--" without a finite positive rate, rounded up, "0s" only when done', () => {
    expect([etaText(100, 0), etaText(100, Number.NaN), etaText(100, Infinity), etaText(100, -1)]).toEqual(['--', '--', '--', '--']);
    expect([etaText(1, 1e6), etaText(0, 0), etaText(130, 1)]).toEqual(['1s', '0s', '2m10s']);
    expect([formatRate(504.14), formatRate(50.83), formatRate(13.333)]).toEqual(['504', '50.8', '13.3']);
  });

  it.skipIf(!haveScript)('forward-backward on a terminal: "ETA --" at 0 %, no "ETA 0s" before the end, no NFs/NaN/Infinity', () => {
    const cwd = mkdtempSync(join(dir, 'bar-'));
    const r = runInTerminal([...FB, '--noise-levels', '0.5,0.6', '--samples', '2000'], cwd);
    expect(r.code, r.text).toBe(0);
    expect(r.frames.length).toBeGreaterThan(0);
    // Before: the first frame read "0% | 0/4000 samples | 0 samples/s | ETA 0s".
    expect(r.frames[0]).toMatch(/ 0% \| 0\/4000 samples \| - samples\/s \| ETA --$/);
    for (const f of r.frames) {
      expect(f).not.toMatch(/NFs|NaN|Infinity|NULL|LLs/);
      if (!f.includes(' 100% ')) expect(f).not.toMatch(/ETA 0s/);
    }
    expect(r.frames[r.frames.length - 1]).toMatch(/ 100% \| 4000\/4000 samples \| \d+ samples\/s \| ETA 0s$/);
  });
});

describe('train: the bar and the summary give the same rate, and the summary adds up', () => {
  it.skipIf(!haveScript)("the last frame's steps/s is the summary's; steps / rate + set-up = the wall time", () => {
    const cwd = mkdtempSync(join(dir, 'train-'));
    const r = runInTerminal(['train', '--steps', '150', '--width', '8', '--threads', '1', '--train-size', '64', '--test-size', '16', '--checkpoint-every', '1000', '--out', 'run'], cwd);
    expect(r.code, r.text).toBe(0);
    const last = r.frames[r.frames.length - 1];
    expect(last).toMatch(/ 100% \| 150\/150 steps \| /);
    const barRate = /\| ([\d.]+) steps\/s \|/.exec(last)?.[1];
    // Before: "train: 150 steps in 0.8s (504.1 steps/s), …" beside a bar at "504.14 steps/s", and 150 / 0.8 ≠ 504.
    const summary = /train: 150 steps in ([\d.]+)s \(([\d.]+)s of steps at ([\d.]+) steps\/s \+ ([\d.]+)s set-up and saving\)/.exec(r.text);
    expect(summary, r.text).not.toBeNull();
    const [, total, loop, rate, setup] = summary!.map(Number);
    expect(summary![3]).toBe(barRate);
    expect(Math.abs(150 / rate - loop)).toBeLessThanOrEqual(0.05 + (150 / rate) * 0.01);
    expect(Math.abs(loop + setup - total)).toBeLessThanOrEqual(0.11);
    const log = JSON.parse(readFileSync(join(cwd, 'run', 'train.json'), 'utf8'));
    expect(formatRate(log.stepsPerSecond)).toBe(barRate);
  });
});

describe('evaluate: validity labelled root → leaves, and a progress bar', () => {
  let model: string;
  let grammar: string;
  beforeAll(() => {
    const run = join(dir, 'model');
    const t = runCli(['train', '--steps', '10', '--width', '8', '--threads', '1', '--train-size', '64', '--test-size', '16', '--checkpoint-every', '1000', '--out', run]);
    expect(t.code, t.stderr).toBe(0);
    model = join(run, 'model.onnx');
    grammar = join(run, 'grammar.json');
  });

  it('the summary line labels each layer, root first, with the values of the JSON', () => {
    const out = join(dir, 'e.json');
    const r = runCli(['evaluate', '--model', model, '--grammar', grammar, '--samples', '20', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const v: number[] = JSON.parse(readFileSync(out, 'utf8')).validByLayer;
    expect(v).toHaveLength(3);
    // Before: "valid by layer 0.405 0.060 0.000" (unlabelled, layer 1 first).
    expect(r.stderr).toContain(`; valid by layer (root..leaves): layer 3 ${v[2].toFixed(3)}, layer 2 ${v[1].toFixed(3)}, layer 1 ${v[0].toFixed(3)}; fully valid`);
  });

  it.skipIf(!haveScript)('on a terminal it draws a bar in denoising steps (samples × T), from "ETA --" to 100 %', () => {
    const r = runInTerminal(['evaluate', '--model', model, '--grammar', grammar, '--samples', '20', '--out', join(dir, 'e2.json')], dir);
    expect(r.code, r.text).toBe(0);
    const bars = r.frames.filter((f) => f.startsWith('evaluate ['));
    // Before: no bar at all.
    expect(bars.length).toBeGreaterThan(0);
    expect(bars[bars.length - 1]).toMatch(/ 100% \| 4000\/4000 denoising steps \| \d+ denoising steps\/s \| ETA 0s$/);
  });
});

describe('every command that writes a file says so on stderr, like grammar --out', () => {
  it('theory by population dynamics on one grammar: SD over grammars is null, not 0; with two it is a number, printed to significant digits', () => {
    const base = ['theory', '--method', 'population', '--process', 'eps', '--depth', '2', '--vocab', '4', '--synonyms', '2', '--noise-levels', '0.3', '--population', '200'];
    const one = runCli([...base, '--out', join(dir, 'theory1.json')]);
    expect(one.code, one.stderr).toBe(0);
    const rows1 = JSON.parse(readFileSync(join(dir, 'theory1.json'), 'utf8')).rows as { classKeptGrammarSD: number | null }[];
    expect(rows1.map((r) => r.classKeptGrammarSD)).toEqual([null]);
    const two = runCli([...base, '--grammars', '2', '--out', join(dir, 'theory2.json')]);
    expect(two.code, two.stderr).toBe(0);
    const rows2 = JSON.parse(readFileSync(join(dir, 'theory2.json'), 'utf8')).rows as { classKeptGrammarSD: number | null }[];
    expect(typeof rows2[0].classKeptGrammarSD).toBe('number');
    expect(two.stdout).toContain(significant(rows2[0].classKeptGrammarSD));
  });

  it('sample --out/--csv, posterior --out and forward-backward --out/--csv print "wrote F"', () => {
    const cwd = mkdtempSync(join(dir, 'wrote-'));
    const cases: [string[], string[]][] = [
      [['grammar', '--out', 'g.json'], ['g.json']],
      [
        ['sample', '--out', 's.json', '--csv', 's.csv'],
        ['s.json', 's.csv'],
      ],
      [['sample', '--csv', 's2.csv'], ['s2.csv']],
      [['posterior', '--tokens', '1,2,3,4,5,6,7,0', '--out', 'p.json'], ['p.json']],
      [
        [...FB, '--noise-levels', '0.5', '--samples', '10', '--out', 'fb.json', '--csv', 'fb.csv'],
        ['fb.json', 'fb.csv'],
      ],
      [['theory', '--depth', '2', '--out', 't.json'], ['t.json']],
    ];
    for (const [args, files] of cases) {
      const r = runCli(args, cwd);
      expect(r.code, r.stderr).toBe(0);
      // Before: nothing for sample, posterior and forward-backward.
      expect(r.stderr, args.join(' ')).toBe(files.map((f) => `wrote ${f}\n`).join(''));
      for (const f of files) expect(existsSync(join(cwd, f)), f).toBe(true);
    }
  });
});
