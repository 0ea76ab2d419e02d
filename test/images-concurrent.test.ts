import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runImagesExperiment, type RunImagesOptions } from '../src/images/experiment/run.ts';
import { openImagesExperiment, type ImagesExperiment, type ImagesExperimentInput } from '../src/images/experiment/setup.ts';
import { runCli } from './helpers/cli.ts';
import { expectOneLineError, paramErrorAsync } from './helpers/errors.ts';
import { saveModel, tinyClassifierModel, tinyUnetModel, writeTestImages } from './helpers/imageModels.ts';
import { tempDir } from './helpers/tempDir.ts';

// One writer per image results file, as for sweeps (test/hardening-concurrent.test.ts): the lock
// `<results file>.lock` (src/core/fileLock.ts), taken by the one results-file mechanism.
const dir = tempDir('hierdiff-images-concurrent-');
const read = (path: string) => readFileSync(path, 'utf8');
const size = 16;
let input: ImagesExperimentInput;
let clean = '';

/** A pid that is not running on this host: a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

async function withExperiment<T>(f: (exp: ImagesExperiment) => Promise<T>): Promise<T> {
  const exp = await openImagesExperiment(input);
  try {
    return await f(exp);
  } finally {
    await exp.release();
  }
}

const options = (outDir: string, extra: Partial<RunImagesOptions> = {}): RunImagesOptions => ({ outDir, version: 'test', command: 'test', ...extra });

beforeAll(async () => {
  await writeTestImages(join(dir, 'images'), { count: 3, size, channels: 1, classes: 1 });
  const model = saveModel(dir, 'unet.onnx', tinyUnetModel({ channels: 1, size }));
  const classifier = saveModel(dir, 'clf.onnx', tinyClassifierModel({ channels: 1, size }));
  input = { model, classifier, images: join(dir, 'images'), respacing: '3', steps: [1, 3], trajectories: 2, batchSize: 2, examples: 0 };
  await withExperiment((exp) => runImagesExperiment(exp, options(join(dir, 'clean'))));
  clean = read(join(dir, 'clean', 'results.jsonl'));
}, 120_000);

describe('one writer per image results file', () => {
  it('two runs on one results file: the second is refused while the first runs; the first finishes byte-identical and removes the lock', async () => {
    const out = join(dir, 'both');
    const file = join(out, 'results.jsonl');
    await withExperiment(async (exp) => {
      // The first run holds the lock from its first await on.
      const first = runImagesExperiment(exp, options(out, { resume: true }));
      expect(existsSync(`${file}.lock`)).toBe(true);
      const e = await paramErrorAsync(runImagesExperiment(exp, options(out, { resume: true })));
      expect(e.param).toBe('out');
      expect(e.message).toMatch(
        new RegExp(
          `results file .*both/results\\.jsonl is being written by another run \\(pid ${process.pid}, started [^)]+\\); wait for it or remove .*both/results\\.jsonl\\.lock if that run is gone`,
        ),
      );
      await first;
    });
    expect(read(file)).toBe(clean);
    expect(existsSync(`${file}.lock`)).toBe(false);
  }, 120_000);

  it('shards of one run in one folder have a lock each, so they run side by side', async () => {
    const out = join(dir, 'shards');
    await withExperiment(async (exp) => {
      const runs = [0, 1].map((index) => runImagesExperiment(exp, options(out, { shard: { index, count: 2 } })));
      await Promise.all(runs);
    });
    expect(
      readdirSync(out)
        .filter((n) => n.startsWith('results'))
        .sort(),
    ).toEqual(['results.shard-0-of-2.jsonl', 'results.shard-1-of-2.jsonl']);
  }, 120_000);

  it('a lock held by a live process refuses the CLI run in one line and leaves the folder alone', () => {
    const out = join(dir, 'held');
    mkdirSync(out, { recursive: true });
    const lock = JSON.stringify({ pid: process.pid, hostname: hostname(), started: '2026-01-01T00:00:00.000Z' });
    writeFileSync(join(out, 'results.jsonl.lock'), lock);
    const args = ['images', 'forward-backward', '--model', input.model, '--classifier', input.classifier, '--images', input.images, '--respacing', '3', '--times', '1,3', '--out', out, '--no-report'];
    expectOneLineError(runCli(args), new RegExp(`held/results\\.jsonl is being written by another run \\(pid ${process.pid}, started 2026-01-01T00:00:00.000Z\\)`));
    expect(readdirSync(out)).toEqual(['results.jsonl.lock']);
    expect(read(join(out, 'results.jsonl.lock'))).toBe(lock);
  }, 120_000);

  it('a stale lock (dead pid on this host) is taken over; the resumed run finishes byte-identical and removes it', async () => {
    const out = join(dir, 'stale');
    const file = join(out, 'results.jsonl');
    mkdirSync(out, { recursive: true });
    const lines = clean.split('\n');
    // Header, two finished units, and a half-written third line.
    writeFileSync(file, `${lines.slice(0, 3).join('\n')}\n${lines[3].slice(0, 30)}`);
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: await deadPid(), hostname: hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const result = await withExperiment((exp) => runImagesExperiment(exp, options(out, { resume: true })));
    expect(result.resumed).toBe(2);
    expect(read(file)).toBe(clean);
    expect(existsSync(`${file}.lock`)).toBe(false);
  }, 120_000);
});
