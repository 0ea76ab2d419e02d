import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readlinkSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSweep } from '../src/sweep/index.ts';
import { writeReportFolder } from '../src/core/outputDir.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

// Failed commands must leave nothing new on disk, and a report folder is replaced as a set.

const dir = tempDir('hierdiff-outputs-');
const results = join(dir, 'tiny.jsonl');
const fb = ['forward-backward', '--vocab', '8', '--synonyms', '2', '--tuple', '2', '--depth', '2', '--noise-levels', '0.3', '--samples', '5', '--workers', '1'];

/** Every path under `root` with its contents ('<dir>' for folders): a snapshot to compare. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    for (const name of readdirSync(p)) {
      const q = join(p, name);
      const st = lstatSync(q);
      if (st.isSymbolicLink()) out[relative(root, q)] = `-> ${readlinkSync(q)}`;
      else if (st.isDirectory()) {
        out[relative(root, q)] = '<dir>';
        walk(q);
      } else out[relative(root, q)] = readFileSync(q).toString('base64');
    }
  };
  walk(root);
  return out;
}

function expectBadInput(r: { code: number; stderr: string }, what: string): void {
  expect(r.code, `${what}: ${r.stderr}`).toBe(2);
  expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
  expect(r.stderr).toMatch(/^hierdiff: invalid/);
}

beforeAll(async () => {
  await runSweep(
    { vocab: 8, synonyms: 3, tuple: 2, depths: [2], grammars: 1, noiseLevels: { eps: [0.3, 0.8] }, samples: 10, trajectories: 2 },
    { out: results, workers: 1, command: 'hierdiff sweep (test)' },
  );
});

describe('forward-backward output paths', () => {
  it('checks --out and --csv before computing: a bad --csv leaves no --out file', () => {
    const work = mkdtempSync(join(dir, 'fb-'));
    writeFileSync(join(work, 'afile'), 'x');
    mkdirSync(join(work, 'adir'));
    const cases = [
      ['--out', join(work, 'fb1.json'), '--csv', join(work, 'afile', 'x.csv')],
      ['--out', join(work, 'fb2.json'), '--csv', join(work, 'adir')],
      ['--csv', join(work, 'fb3.csv'), '--out', join(work, 'adir')],
      ['--out', join(work, 'fb4.json'), '--csv', join(work, 'afile', 'deeper', 'x.csv')],
      ['--out', join(work, 'fb5.json'), '--csv', join(work, 'fb5.json')],
      ['--out', join(work, 'fb6.json'), '--csv', '/dev/null'],
      ['--out', join(work, 'fb7.json'), '--csv', '/dev/stdout'],
    ];
    symlinkSync('/proc/self/fd/1', join(work, 'link-to-stdout'));
    cases.push(['--out', join(work, 'fb8.json'), '--csv', join(work, 'link-to-stdout')]);
    const before = tree(work);
    for (const c of cases) {
      const r = runCli([...fb, ...c]);
      expectBadInput(r, c.join(' '));
      expect(tree(work), c.join(' ')).toEqual(before);
    }
  });

  it('fails fast with one line for an output path under /proc', () => {
    for (const args of [
      [...fb, '--out', '/proc/hierdiff-x.json'],
      [...fb, '--csv', '/proc/hierdiff-x/y.csv'],
      ['report', results, '--out', '/proc/hierdiff-report'],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
      expectBadInput({ code: r.status ?? -1, stderr: r.stderr }, args.join(' '));
    }
  });

  it('still writes both files when the paths are good (creating missing folders)', () => {
    const work = mkdtempSync(join(dir, 'fb-ok-'));
    const r = runCli([...fb, '--out', join(work, 'a', 'fb.json'), '--csv', join(work, 'b', 'c', 'fb.csv')]);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(tree(work)).sort()).toEqual(['a', 'a/fb.json', 'b', 'b/c', 'b/c/fb.csv']);
  });
});

describe('report output folder', () => {
  it('exits 2 before writing anything when one of its output names is a folder or the folder is a file', () => {
    const setups: [string, (d: string) => void][] = [
      ['figure name is a folder', (d) => mkdirSync(join(d, 'figures', 'class-kept-eps.png'), { recursive: true })],
      ['report.html is a folder', (d) => mkdirSync(join(d, 'report.html'), { recursive: true })],
      ['theory.json is a folder', (d) => mkdirSync(join(d, 'theory.json'), { recursive: true })],
      ['figures is a file', (d) => writeFileSync(join(d, 'figures'), 'x')],
    ];
    for (const [what, setup] of setups) {
      const out = mkdtempSync(join(dir, 'rep-'));
      setup(out);
      writeFileSync(join(out, 'notes.txt'), 'mine');
      const before = tree(out);
      const r = runCli(['report', results, '--out', out, '--population', '0']);
      expectBadInput(r, what);
      expect(tree(out), what).toEqual(before);
    }
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    expectBadInput(runCli(['report', results, '--out', file, '--population', '0']), '--out is a file');
    expectBadInput(runCli(['report', results, '--out', join(file, 'sub'), '--population', '0']), '--out under a file');
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('replaces report.html, figures/ and theory.json as a set and keeps the folder’s other files', () => {
    const out = mkdtempSync(join(dir, 'rerun-'));
    mkdirSync(join(out, 'figures'));
    writeFileSync(join(out, 'figures', 'stale-figure.png'), 'old');
    writeFileSync(join(out, 'theory.json'), 'old');
    writeFileSync(join(out, 'notes.txt'), 'mine');
    // Without --overwrite an earlier report is refused (hardening-firsthour-outputs.test.ts).
    const r = runCli(['report', results, '--out', out, '--population', '0', '--overwrite']);
    expect(r.code, r.stderr).toBe(0);
    const names = readdirSync(out).sort();
    expect(names).toEqual(['figures', 'notes.txt', 'report.html', 'theory.json']);
    expect(readdirSync(join(out, 'figures'))).not.toContain('stale-figure.png');
    expect(readdirSync(join(out, 'figures'))).toContain('class-kept-eps.png');
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(JSON.parse(readFileSync(join(out, 'theory.json'), 'utf8'))).toHaveProperty('meanField');
  });

  it('reproduce checks its report folder before running the sweep', () => {
    const out = mkdtempSync(join(dir, 'repro-'));
    mkdirSync(join(out, 'report.html'));
    const before = tree(out);
    const r = runCli(['reproduce', '--quick', '--out', out, '--workers', '1']);
    expectBadInput(r, 'reproduce');
    expect(tree(out)).toEqual(before);
    expect(existsSync(join(out, 'results.jsonl'))).toBe(false);
  }, 150_000);
});

describe('writeReportFolder', () => {
  it('leaves the previous report untouched, and no temporary folder, when writing fails half-way', async () => {
    const out = mkdtempSync(join(dir, 'half-'));
    mkdirSync(join(out, 'figures'));
    writeFileSync(join(out, 'figures', 'a.png'), 'old a');
    writeFileSync(join(out, 'report.html'), 'old page');
    writeFileSync(join(out, 'results.jsonl'), 'results');
    const before = tree(out);
    await expect(
      writeReportFolder(out, async (stage) => {
        mkdirSync(join(stage, 'figures'));
        writeFileSync(join(stage, 'figures', 'a.png'), 'new a');
        writeFileSync(join(stage, 'figures', 'b.png'), 'new b');
        throw new Error('render failed');
      }),
    ).rejects.toThrow('render failed');
    expect(tree(out)).toEqual(before);
  });

  it('removes the folders it created when writing fails into a new folder', async () => {
    const parent = mkdtempSync(join(dir, 'new-'));
    await expect(writeReportFolder(join(parent, 'a', 'b'), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(readdirSync(parent)).toEqual([]);
  });

  it('returns the written paths under the output folder', async () => {
    const out = join(mkdtempSync(join(dir, 'ok-')), 'rep');
    const written = await writeReportFolder(out, async (stage) => {
      writeFileSync(join(stage, 'report.html'), 'page');
      return [join(stage, 'report.html')];
    });
    expect(written).toEqual([join(out, 'report.html')]);
    expect(readdirSync(out)).toEqual(['report.html']);
  });
});
