import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { sleep } from './helpers/sleep.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-hardening-concurrent-');
const file = (name: string) => join(dir, name);
const read = (path: string) => readFileSync(path, 'utf8');

/** 16 cells of v8 m2 s2 L4 with 4000 data each: a few seconds on one worker. */
const SLOW = ['sweep', '--vocab', '8', '--synonyms', '2', '--depth', '4', '--samples', '4000', '--trajectories', '2', '--process', 'eps,mask', '--noise-levels', '0.1:0.9:8', '--workers', '1'];
/** 12 cells of a few ms each. */
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
  '--workers',
  '2',
];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function start(args: string[]): { pid: number; done: Promise<Run>; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr += s));
  const done = new Promise<Run>((r) => child.on('close', (code, signal) => r({ code, signal, stderr })));
  return { pid: child.pid!, done, kill: (s) => child.kill(s) };
}

/** A pid that is not running on this host: a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

let clean = '';
let tinyClean = '';
beforeAll(() => {
  const r = runCli([...SLOW, '--out', file('clean.jsonl')]);
  expect(r.code, r.stderr).toBe(0);
  clean = read(file('clean.jsonl'));
  const t = runCli([...TINY, '--out', file('tiny-clean.jsonl')]);
  expect(t.code, t.stderr).toBe(0);
  tinyClean = read(file('tiny-clean.jsonl'));
}, 120_000);

describe('one writer per results file (real binary)', () => {
  it('two concurrent --resume runs on one file: exactly one runs, the other exits 2 with one line', async () => {
    const out = file('both.jsonl');
    const a = start([...SLOW, '--resume', '--out', out]);
    const b = start([...SLOW, '--resume', '--out', out]);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    const codes = [ra.code, rb.code].sort();
    expect(codes, `${ra.stderr}\n${rb.stderr}`).toEqual([0, 2]);
    const loser = ra.code === 2 ? ra : rb;
    const winner = ra.code === 2 ? b : a;
    expectOneLineError(
      loser,
      new RegExp(`results file .*both\\.jsonl is being written by another run \\(pid ${winner.pid}, started [^)]+\\); wait for it or remove .*both\\.jsonl\\.lock if that run is gone`),
    );
    expect(read(out)).toBe(clean);
    expect(existsSync(`${out}.lock`)).toBe(false);
  }, 120_000);

  it('a lock held by a live process refuses the run and leaves file and lock alone', () => {
    const out = file('held.jsonl');
    writeFileSync(out, clean.split('\n').slice(0, 3).join('\n') + '\n');
    const before = read(out);
    const lock = JSON.stringify({ pid: process.pid, hostname: hostname(), started: '2026-01-01T00:00:00.000Z' });
    writeFileSync(`${out}.lock`, lock);
    expectOneLineError(runCli([...SLOW, '--resume', '--out', out]), new RegExp(`is being written by another run \\(pid ${process.pid}, started 2026-01-01T00:00:00.000Z\\)`));
    expect(read(out)).toBe(before);
    expect(read(`${out}.lock`)).toBe(lock);
    rmSync(`${out}.lock`);
  });

  it('a stale lock (dead pid on this host) is taken over; the run finishes byte-identical and removes it', async () => {
    const out = file('stale.jsonl');
    writeFileSync(out, tinyClean.split('\n').slice(0, 5).join('\n') + '\n');
    writeFileSync(`${out}.lock`, JSON.stringify({ pid: await deadPid(), hostname: hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const r = runCli([...TINY, '--resume', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(out)).toBe(tinyClean);
    expect(existsSync(`${out}.lock`)).toBe(false);
  });

  it('holds the lock while running and releases it on SIGTERM and on failure', async () => {
    const out = file('term.jsonl');
    const run = start([...SLOW, '--out', out]);
    const deadline = Date.now() + 60_000;
    while (!(existsSync(out) && read(out).split('\n').length > 2) && Date.now() < deadline) await sleep(5);
    expect(existsSync(`${out}.lock`)).toBe(true);
    expect(JSON.parse(read(`${out}.lock`))).toMatchObject({ pid: run.pid, hostname: hostname() });
    run.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(143);
    expect(existsSync(`${out}.lock`)).toBe(false);
    // A refused resume (another sweep) leaves no lock either.
    const other = SLOW.map((a) => (a === '4000' ? '4001' : a));
    expectOneLineError(runCli([...other, '--resume', '--out', out]), /holds a different sweep/);
    expect(readdirSync(dir).filter((n) => n.startsWith('term.jsonl'))).toEqual(['term.jsonl']);
    // And the interrupted file resumes to the clean bytes.
    const resumed = runCli([...SLOW, '--resume', '--out', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(read(out)).toBe(clean);
  }, 120_000);
});

describe('--resume repairs exact duplicate cell lines', () => {
  it('a file with a duplicated cell line resumes to the clean bytes', () => {
    const lines = tinyClean.split('\n');
    const out = file('dup.jsonl');
    // Header, cells 1-4, then cell 2 again (as two runs killed together leave it).
    writeFileSync(out, [...lines.slice(0, 5), lines[2], lines[3]].join('\n') + '\n');
    const r = runCli([...TINY, '--resume', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(out)).toBe(tinyClean);
  });

  it('a finished file with a duplicated line: report refuses with the repair hint, --resume repairs it', () => {
    const lines = tinyClean.split('\n');
    const out = file('dup-finished.jsonl');
    writeFileSync(out, [...lines.slice(0, -1), lines[1]].join('\n') + '\n');
    expectOneLineError(runCli(['report', out, '--out', file('dup-report'), '--population', '0']), /cell \S+ appears twice \(lines 2 and 14\).*--resume/);
    const r = runCli([...TINY, '--resume', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(out)).toBe(tinyClean);
  });

  it('merge refuses a file with a duplicated line and says how to repair it', () => {
    const lines = tinyClean.split('\n');
    const out = file('dup-merge.jsonl');
    writeFileSync(out, [...lines.slice(0, -1), lines[5]].join('\n') + '\n');
    expectOneLineError(runCli(['merge', out, '--out', file('dup-merged.jsonl')]), /dup-merge\.jsonl: cell \S+ appears twice \(lines 6 and 14\).*--resume/);
    expect(existsSync(file('dup-merged.jsonl'))).toBe(false);
  });

  it('the same cell with different stats is refused, the file untouched', () => {
    const lines = tinyClean.split('\n');
    const out = file('dup-conflict.jsonl');
    const changed = lines[2].replace(/"sum":([0-9.]+)/, (_, x: string) => `"sum":${Number(x) + 1}`);
    expect(changed).not.toBe(lines[2]);
    writeFileSync(out, [...lines.slice(0, 4), changed].join('\n') + '\n');
    const before = read(out);
    expectOneLineError(runCli([...TINY, '--resume', '--out', out]), /cell \S+ appears twice with different stats \(lines 3 and 5\)/);
    expect(read(out)).toBe(before);
    expect(existsSync(`${out}.lock`)).toBe(false);
  });
});
