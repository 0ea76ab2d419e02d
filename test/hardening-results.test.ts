import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-hardening-results-');
const file = (name: string) => join(dir, name);
const read = (path: string) => readFileSync(path, 'utf8');

/** 12 cells of a few ms each, with correlations (so every CellStats field is present). */
const TINY = [
  'sweep',
  '--vocab',
  '8',
  '--synonyms',
  '2',
  '--depth',
  '2,3',
  '--grammars',
  '2',
  '--samples',
  '30',
  '--trajectories',
  '3',
  '--noise-levels-eps',
  '0.3,0.6',
  '--noise-levels-mask',
  '0.2',
  '--correlations',
  '--workers',
  '2',
];

let clean = '';
let lines: string[] = [];
beforeAll(() => {
  const r = runCli([...TINY, '--out', file('clean.jsonl')]);
  expect(r.code, r.stderr).toBe(0);
  clean = read(file('clean.jsonl'));
  lines = clean.split('\n');
}, 60_000);

/** Line 4 (the third cell) with its parsed stats edited. */
function editStats(edit: (s: Record<string, unknown>) => void): string {
  const o = JSON.parse(lines[3]) as { stats: Record<string, unknown> };
  edit(o.stats);
  return JSON.stringify(o);
}

const CORRUPTIONS: [name: string, line: () => string, message: RegExp][] = [
  ['"sum": null', () => lines[3].replace(/"sum":[0-9.e+-]+/, '"sum":null'), /line 4: .*classMarginal\.sum/],
  ['a string count', () => editStats((s) => ((s.classSampled as Record<string, unknown>).count = '30')), /line 4: .*classSampled\.count/],
  ['a missing chiNumerator', () => editStats((s) => delete s.chiNumerator), /line 4: .*chiNumerator/],
  ['a huge number (Infinity when read)', () => lines[3].replace(/"chiDenominator":[0-9.e+-]+/, '"chiDenominator":1e999'), /line 4: .*chiDenominator/],
  ['levelSampled one level short', () => editStats((s) => (s.levelSampled as unknown[]).pop()), /line 4: .*levelSampled/],
  ['a null inside levelMarginal', () => editStats((s) => ((s.levelMarginal as Record<string, unknown>[])[1].sumSq = null)), /line 4: .*levelMarginal\[1\]\.sumSq/],
  ['correlationByDistance too long', () => editStats((s) => (s.correlationByDistance as number[]).push(0)), /line 4: .*correlationByDistance/],
  ['a null in correlationByTreeDistance', () => editStats((s) => ((s.correlationByTreeDistance as unknown[])[0] = null)), /line 4: .*correlationByTreeDistance\[0\]/],
  ['an unknown field', () => editStats((s) => (s.extra = 1)), /line 4: .*extra/],
];

describe('cell stats are checked structurally when read (real binary)', () => {
  for (const [name, corrupt, message] of CORRUPTIONS) {
    it(`refuses ${name} in --resume and report, naming file and line`, () => {
      const out = file(`bad-${name.replace(/\W+/g, '-')}.jsonl`);
      const broken = [...lines.slice(0, 3), corrupt(), ...lines.slice(4)].join('\n');
      expect(broken).not.toBe(clean);
      writeFileSync(out, broken);
      const where = new RegExp(`invalid results file .*${out.split('/').at(-1)!.replace(/\./g, '\\.')}: `);
      const resumed = runCli([...TINY, '--resume', '--out', out]);
      expectOneLineError(resumed, where);
      expectOneLineError(resumed, message);
      expect(read(out)).toBe(broken);
      const report = runCli(['report', out, '--out', file('report-bad'), '--population', '0']);
      expectOneLineError(report, where);
      expectOneLineError(report, message);
    });
  }
});

describe('CRLF results files (real binary)', () => {
  const crlf = (text: string) => text.replace(/\n/g, '\r\n');

  it('a partial CRLF file resumes to the same bytes as a clean run', () => {
    const out = file('partial-crlf.jsonl');
    writeFileSync(out, crlf(lines.slice(0, 6).join('\n') + '\n'));
    const r = runCli([...TINY, '--resume', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('5 found finished');
    expect(read(out)).toBe(clean);
  });

  it('a finished CRLF file resumes to the clean bytes; report reads it as the clean file', () => {
    const out = file('finished-crlf.jsonl');
    writeFileSync(out, crlf(clean));
    const reportCrlf = runCli(['report', out, '--out', file('report-crlf'), '--population', '0']);
    expect(reportCrlf.code, reportCrlf.stderr).toBe(0);
    const reportClean = runCli(['report', file('clean.jsonl'), '--out', file('report-clean'), '--population', '0']);
    expect(reportClean.code, reportClean.stderr).toBe(0);
    expect(read(file('report-crlf/theory.json'))).toBe(read(file('report-clean/theory.json')));
    const r = runCli([...TINY, '--resume', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(out)).toBe(clean);
  });
});
