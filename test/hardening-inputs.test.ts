import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInteger, parseNoiseLevels, parseNumber } from '../src/cli/parse.ts';
import { ParamError } from '../src/core/errors.ts';
import { createRng } from '../src/core/random.ts';
import { readBounded } from '../src/core/readBounded.ts';
import { validateSweepConfig } from '../src/sweep/config.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';
import { expectOneLineError, paramError } from './helpers/errors.ts';

const dir = tempDir('hierdiff-hardening-');
const small = ['--vocab', '8', '--synonyms', '2'];

describe('--grammar with size options that contradict the file (real binary)', () => {
  const cwd = join(dir, 'contradict');
  mkdirSync(cwd);
  const files = () => readdirSync(cwd).sort();

  it('an explicit --depth (or --vocab, --synonyms, --tuple, --classes) other than the file says is refused, nothing written', () => {
    expect(runCli(['grammar', ...small, '--depth', '3', '--out', 'g.json'], cwd).code).toBe(0);
    const cases: [string[], RegExp][] = [
      [['sample', '--grammar', 'g.json', '--depth', '6', '--out', 'out.json'], /^hierdiff: invalid --depth 6 \(the grammar in g\.json has depth 3\)$/],
      [['grammar', '--grammar', 'g.json', '--depth', '2', '--out', 'out.json'], /invalid --depth 2 \(the grammar in g\.json has depth 3\)/],
      [['posterior', '--grammar', 'g.json', '--vocab', '16', '--tokens', '0,0,0,0,0,0,0,0', '--out', 'out.json'], /invalid --vocab 16 \(the grammar in g\.json has vocab 8\)/],
      [['sample', '--grammar', 'g.json', '--synonyms', '3', '--out', 'out.json'], /invalid --synonyms 3 \(the grammar in g\.json has synonyms 2\)/],
      [['sample', '--grammar', 'g.json', '--tuple', '3', '--out', 'out.json'], /invalid --tuple 3 \(the grammar in g\.json has tuple 2\)/],
      [['sample', '--grammar', 'g.json', '--classes', '4', '--out', 'out.json'], /invalid --classes 4 \(the grammar in g\.json has classes 8\)/],
      [
        ['forward-backward', '--grammar', 'g.json', '--depth', '3,6', '--process', 'eps', '--noise-levels', '0.3', '--samples', '10', '--out', 'out.json'],
        /invalid --depth 3,6 \(the grammar in g\.json has depth 3\)/,
      ],
      [['sweep', '--grammar', 'g.json', '--depth', '6', '--noise-levels-eps', '0.3', '--samples', '10', '--out', 'out.jsonl'], /invalid --depth 6 \(the grammar in g\.json has depth 3\)/],
    ];
    for (const [args, pattern] of cases) {
      expectOneLineError(runCli(args, cwd), pattern);
      expect(files()).toEqual(['g.json']);
    }
  });

  it("unspecified size options take the file's values; explicit ones that agree are accepted", () => {
    // The file's depth 2, not sample's default 3 (nor the sweep's default 2,4,6).
    expect(runCli(['grammar', ...small, '--depth', '2', '--out', 'g2.json'], cwd).code).toBe(0);
    const s = runCli(['sample', '--grammar', 'g2.json', '--samples', '1', '--out', 's.json'], cwd);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 's.json'), 'utf8')).data[0].tokens).toHaveLength(4);
    const agree = runCli(['sample', '--grammar', 'g2.json', ...small, '--depth', '2', '--tuple', '2', '--classes', '8', '--samples', '1'], cwd);
    expect(agree.code, agree.stderr).toBe(0);
    const sweep = runCli(['sweep', '--grammar', 'g2.json', '--depth', '2', '--noise-levels-eps', '0.3', '--samples', '10', '--trajectories', '2', '--workers', '1', '--out', 'r.jsonl'], cwd);
    expect(sweep.code, sweep.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 'r.jsonl'), 'utf8').split('\n')[0]).config.depths).toEqual([2]);
  });
});

describe('createRng: seeds and stream keys are non-negative safe integers', () => {
  it('NaN, fractions, negatives and 2^53 are refused on seed instead of aliasing stream 0', () => {
    for (const bad of [NaN, 0.5, -1, 2 ** 53, Infinity]) {
      expect(paramError(() => createRng(bad)).param).toBe('seed');
      expect(paramError(() => createRng(0, 1, bad)).param).toBe('seed');
    }
    expect(paramError(() => createRng(NaN)).message).toMatch(/^invalid seed NaN \(expected an integer in \[0, 9007199254740991\]\)$/);
  });

  it('integer seeds and keys still give the same streams', () => {
    const draw = (seed: number, ...key: number[]) => {
      const r = createRng(seed, ...key);
      return [r.nextUint32(), r.nextUint32()];
    };
    expect(draw(0)).toEqual(draw(0));
    expect(draw(0)).not.toEqual(draw(1));
    expect(draw(Number.MAX_SAFE_INTEGER, 3, 0)).toEqual(draw(Number.MAX_SAFE_INTEGER, 3, 0));
    expect(draw(7, 1)).not.toEqual(draw(7, 2));
  });
});

describe('numbers are decimal literals whose value a double holds', () => {
  it('parseNumber refuses hex/octal/binary literals, Infinity, underflow and overflow, and keeps decimals', () => {
    for (const bad of ['0x1', '0o1', '0b1', 'Infinity', '-Infinity', 'NaN', '1e-400', '-1e-400', '1e400', '', ' ', '1_0', '.', 'e5', '1e']) {
      expect(() => parseNumber('noise-levels', bad, -2, 2), bad).toThrow(ParamError);
    }
    expect(paramError(() => parseNumber('noise-levels', '0x1', 0, 1)).message).toBe('invalid --noise-levels "0x1" (not a decimal number; expected a number in [0, 1])');
    expect(paramError(() => parseNumber('noise-levels', '1e-400', 0, 1)).message).toBe('invalid --noise-levels "1e-400" (underflows to 0; expected a number in [0, 1])');
    for (const [text, value] of [
      ['0.5', 0.5],
      ['.5', 0.5],
      ['5.', 5],
      ['1e-3', 0.001],
      ['2.5E-1', 0.25],
      ['+1', 1],
      [' 0.25 ', 0.25],
      ['0e-999', 0],
      ['0.000', 0],
      ['1e-320', 1e-320],
    ] as const) {
      expect(parseNumber('x', text, 0, 10)).toBe(value);
    }
    expect(Object.is(parseNumber('x', '-0', 0, 1), 0)).toBe(true);
    expect(Object.is(parseInteger('x', '-0', 0), 0)).toBe(true);
    for (const bad of ['0x10', '0o7', '0b1', '1e3', '1.0', 'Infinity', '9007199254740993']) expect(() => parseInteger('n', bad, 0), bad).toThrow(ParamError);
    expect(() => parseNoiseLevels('noise-levels', '0:0x1:3')).toThrow(/not a decimal number/);
    expect(() => parseNoiseLevels('noise-levels', '0.5,1e-400')).toThrow(/underflows to 0/);
  });

  it('sweep config grids written as text follow the same rule, with the same wording', () => {
    const config = (eps: string) => () => validateSweepConfig({ vocab: 8, synonyms: 2, depths: [2], samples: 10, noiseLevels: { eps } });
    expect(paramError(config('0x1')).message).toMatch(/^invalid sweep config noiseLevels: eps: "0x1" \(not a decimal number; /);
    expect(paramError(config('0.5,1e-400')).message).toMatch(/eps: "1e-400" \(underflows to 0; /);
    expect(paramError(config('0:1e400:3')).message).toMatch(/eps: "1e400" \(overflows; /);
    expect(paramError(config('Infinity')).param).toBe('noiseLevels');
    expect(paramError(config('0b1,0.5')).param).toBe('noiseLevels');
    expect(validateSweepConfig({ vocab: 8, synonyms: 2, depths: [2], samples: 10, noiseLevels: { eps: '0.1:0.3:3' } }).noiseLevels.eps).toEqual([0.1, 0.2, 0.3]);
    expect(validateSweepConfig({ vocab: 8, synonyms: 2, depths: [2], samples: 10, noiseLevels: { eps: '1e-1,.5' } }).noiseLevels.eps).toEqual([0.1, 0.5]);
  });

  it('the CLI refuses --noise-levels 0x1 and 1e-400 instead of running at 1 and 0 (real binary)', () => {
    const cwd = join(dir, 'numbers');
    mkdirSync(cwd);
    for (const levels of ['0x1', '1e-400', 'Infinity', '0.2,0b1']) {
      expectOneLineError(runCli(['forward-backward', ...small, '--depth', '2', '--process', 'eps', '--noise-levels', levels, '--samples', '10', '--out', 'o.json'], cwd), /--noise-levels/);
    }
    writeFileSync(join(cwd, 'c.json'), JSON.stringify({ vocab: 8, synonyms: 2, depths: [2], samples: 10, noiseLevels: { eps: '0x1' } }));
    expectOneLineError(runCli(['sweep', '--config', 'c.json', '--out', 'r.jsonl'], cwd), /noiseLevels: eps: "0x1" \(not a decimal number/);
    expect(readdirSync(cwd)).toEqual(['c.json']);
  });
});

describe('bounded reads of input files', () => {
  it('readBounded reads a regular file within the bound and refuses the rest in one line', () => {
    const f = join(dir, 'ten.txt');
    writeFileSync(f, '0123456789');
    expect(readBounded(f, 10, 'grammar').toString()).toBe('0123456789');
    expect(readBounded(f, 100, 'grammar').toString()).toBe('0123456789');
    expect(paramError(() => readBounded(f, 9, 'grammar')).message).toBe(`invalid --grammar "${f}" (10 bytes, more than the 9 allowed)`);
    expect(paramError(() => readBounded('/dev/zero', 1e6, 'grammar')).message).toBe('invalid --grammar "/dev/zero" (not a regular file)');
    expect(paramError(() => readBounded(dir, 1e6, 'config')).message).toBe(`invalid --config "${dir}" (not a regular file)`);
    expect(paramError(() => readBounded(join(dir, 'missing.json'), 1e6, 'grammar')).message).toMatch(/^invalid --grammar ".*missing\.json" \(cannot read: ENOENT\)$/);
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    expect(readBounded(empty, 10, 'grammar').length).toBe(0);
  });

  it('--grammar /dev/zero and a huge (sparse) grammar file are refused at once, without reading them (real binary)', () => {
    const big = join(dir, 'huge.json');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 300 * 1024 * 1024);
    closeSync(fd);
    const cwd = join(dir, 'bounded');
    mkdirSync(cwd);
    for (const [file, pattern] of [
      ['/dev/zero', /invalid --grammar "\/dev\/zero" \(not a regular file\)/],
      [big, /invalid --grammar ".*huge\.json" \(314572800 bytes, more than the \d+ allowed\)/],
    ] as const) {
      const r = spawnSync(process.execPath, [BIN, 'sample', '--grammar', file, '--out', 'o.json'], { cwd, encoding: 'utf8', timeout: 20_000 });
      expectOneLineError({ code: r.status ?? -1, stderr: r.stderr }, pattern);
    }
    expect(existsSync(join(cwd, 'o.json'))).toBe(false);
  });
});
