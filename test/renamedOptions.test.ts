/**
 * Options renamed for one name per concept (src/core/options.ts RENAMED_OPTIONS): the new spelling
 * works; the old one still works for one release, behaves the same and says so in one line on
 * stderr; both at once are refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RENAMED_OPTIONS } from '../src/core/options.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-renamed-');

describe('images schedule: --steps is now --diffusion-steps', () => {
  const schedule = ['images', 'schedule', '--schedule', 'cosine', '--respacing', 'ddim10'];

  it('the new spelling works, without a note', () => {
    const r = runCli([...schedule, '--diffusion-steps', '200', '--out', join(dir, 'new.json')]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/deprecated/);
    expect(JSON.parse(readFileSync(join(dir, 'new.json'), 'utf8')).timestepMap.at(-1)).toBe(180);
  });

  it('the old spelling gives the same file and a one-line note', () => {
    const r = runCli([...schedule, '--steps', '200', '--out', join(dir, 'old.json')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^hierdiff: --steps is deprecated here, use --diffusion-steps\n/);
    expect(r.stderr.split('\n').filter((l) => /deprecated/.test(l))).toHaveLength(1);
    expect(readFileSync(join(dir, 'old.json'), 'utf8')).toBe(readFileSync(join(dir, 'new.json'), 'utf8'));
  });

  it('the old spelling on standard output: the same arrays', () => {
    const a = runCli([...schedule, '--steps', '100']);
    const b = runCli([...schedule, '--diffusion-steps', '100']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stderr).toBe('hierdiff: --steps is deprecated here, use --diffusion-steps\n');
  });

  it('the old spelling is checked as the new one (its range, its message)', () => {
    const r = runCli([...schedule, '--steps', '1', '--schedule', 'linear']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('hierdiff: --steps is deprecated here, use --diffusion-steps\nhierdiff: invalid --diffusion-steps "1" (expected an integer in [20, 100000])\n');
  });

  it('both spellings at once are refused', () => {
    const r = runCli([...schedule, '--steps', '100', '--diffusion-steps', '100']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^hierdiff: invalid --steps with --diffusion-steps/);
  });

  it('help shows only the new spelling', () => {
    const help = runCli(['images', 'schedule', '--help']).stdout;
    expect(help).toMatch(/--diffusion-steps <T>/);
    expect(help).not.toMatch(/--steps/);
  });
});

describe('the evaluation batch is --batch-size everywhere', () => {
  // The batch is parsed before the model is opened: its range error shows which option got the value.
  it('a grammar for evaluate', () => {
    expect(runCli(['grammar', '--vocab', '4', '--synonyms', '2', '--depth', '2', '--out', 'g.json'], dir).code).toBe(0);
  });

  it.each([
    ['evaluate', ['evaluate', '--model', 'missing.onnx', '--grammar', 'g.json', '--out', 'x.json'], '--batch'],
    ['learn-study', ['learn-study', '--train-sizes', '16', '--out', 'study'], '--eval-batch'],
  ])('%s: the old spelling is read as --batch-size, with a note', (_name, args, old) => {
    const bad = runCli([...args, old, '0'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`hierdiff: ${old} is deprecated here, use --batch-size\nhierdiff: invalid --batch-size "0" (expected an integer in [1, 1000000])\n`);
    const now = runCli([...args, '--batch-size', '0'], dir);
    expect(now.stderr).toBe('hierdiff: invalid --batch-size "0" (expected an integer in [1, 1000000])\n');
  });

  it('train --batch is still the training batch (not renamed)', () => {
    const r = runCli(['train', '--batch', '0', '--out', 'run'], dir);
    expect(r.stderr).toBe('hierdiff: invalid --batch "0" (expected an integer in [1, 1048576])\n');
  });

  it('every renamed option names a flag of the table and its commands', () => {
    for (const r of RENAMED_OPTIONS) {
      expect(r.old).not.toBe(r.option.flag);
      expect(r.commands.length).toBeGreaterThan(0);
    }
  });
});

describe('images forward-backward: --steps is now --times', () => {
  // The times are parsed before the models are opened: a range error shows which option got the value.
  const fb = ['images', 'forward-backward', '--model', 'missing.onnx', '--classifier', 'missing.onnx', '--images', 'missing', '--out', 'fb'];

  it('the old spelling is read as --times, with a note', () => {
    const bad = runCli([...fb, '--steps', '0,5'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('hierdiff: --steps is deprecated here, use --times\nhierdiff: invalid --times "0" (expected an integer in [1, 100000])\n');
    const now = runCli([...fb, '--times', '0,5'], dir);
    expect(now.stderr).toBe('hierdiff: invalid --times "0" (expected an integer in [1, 100000])\n');
  });

  it('help shows only the new spelling', () => {
    const help = runCli(['images', 'forward-backward', '--help']).stdout;
    expect(help).toMatch(/--times <list>/);
    expect(help).not.toMatch(/--steps/);
  });
});
