/**
 * "A first user's hour without surprises", outputs and provenance, on the real binary: finished or
 * interrupted results are never replaced silently (every command that writes results refuses and
 * points to --resume / --overwrite; Ctrl-C says how to resume); a shard of a run is not reported as
 * the whole run; results computed from a saved grammar record what the file says it is.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { saveModel, tinyClassifierModel, tinyUnetModel, writeTestImages } from './helpers/imageModels.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-firsthour-outputs-');
const FB = ['forward-backward', '--depth', '2', '--process', 'eps', '--noise-levels', '0.5', '--samples', '10', '--vocab', '4', '--synonyms', '2', '--workers', '1'];

/** Starts the binary, sends SIGINT once `ready(stderr, cwd)` holds (or after `afterMs`), and resolves with its exit code and stderr. */
function interrupt(args: string[], cwd: string, ready: () => boolean, timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const started = Date.now();
    const poll = setInterval(() => {
      if (ready() || Date.now() - started > timeoutMs) {
        clearInterval(poll);
        child.kill('SIGINT');
      }
    }, 100);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

const lineCount = (path: string) =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('}')).length
    : 0;

describe('finished results are never overwritten silently', () => {
  it('forward-backward --out and --csv: refused in one line naming --overwrite, the file untouched; --overwrite writes the same bytes', () => {
    const cwd = mkdtempSync(join(dir, 'fb-'));
    const first = runCli([...FB, '--out', 'fb.json', '--csv', 'fb.csv'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const json = readFileSync(join(cwd, 'fb.json'));
    writeFileSync(join(cwd, 'other.csv'), 'mine');
    expectOneLineError(runCli([...FB, '--out', 'fb.json'], cwd), /^hierdiff: invalid --out "fb\.json" \(it already exists: add --overwrite to replace it, or choose another --out\)$/);
    expectOneLineError(runCli([...FB, '--csv', 'other.csv'], cwd), /invalid --csv "other\.csv" \(it already exists: add --overwrite/);
    expect(readFileSync(join(cwd, 'other.csv'), 'utf8')).toBe('mine');
    const again = runCli([...FB, '--out', 'fb.json', '--csv', 'fb.csv', '--overwrite'], cwd);
    expect(again.code, again.stderr).toBe(0);
    // --overwrite says whether to replace, not what to compute: it is not recorded, the bytes are the same.
    expect(readFileSync(join(cwd, 'fb.json')).equals(json)).toBe(true);
  });

  it('report into the default ./hierdiff-report: a second report is refused, --overwrite redraws it', () => {
    const cwd = mkdtempSync(join(dir, 'report-'));
    expect(runCli(['sweep', '--depth', '2', '--process', 'eps', '--noise-levels', '0.5', '--samples', '10', '--vocab', '4', '--synonyms', '2', '--workers', '1', '--out', 'r.jsonl'], cwd).code).toBe(
      0,
    );
    const first = runCli(['report', 'r.jsonl', '--population', '0'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const html = readFileSync(join(cwd, 'hierdiff-report', 'report.html'));
    expectOneLineError(
      runCli(['report', 'r.jsonl', '--population', '0'], cwd),
      /^hierdiff: invalid --out "hierdiff-report" \(it already holds report\.html, figures, theory\.json: add --overwrite to replace it/,
    );
    expect(runCli(['report', 'r.jsonl', '--population', '0', '--overwrite'], cwd).code).toBe(0);
    expect(readFileSync(join(cwd, 'hierdiff-report', 'report.html')).equals(html)).toBe(true);
  });

  it.each([
    ['grammar', ['grammar', '--out', 'x.json']],
    ['sample', ['sample', '--out', 'x.json']],
    ['sample --csv', ['sample', '--csv', 'x.json']],
    ['posterior', ['posterior', '--tokens', '1,2,3,4,5,6,7,0', '--out', 'x.json']],
    ['theory', ['theory', '--depth', '2', '--out', 'x.json']],
    ['merge', ['merge', 'a.jsonl', '--out', 'x.json']],
    ['evaluate', ['evaluate', '--model', 'm.onnx', '--grammar', 'g.json', '--out', 'x.json']],
    ['images sample', ['images', 'sample', '--model', 'm.onnx', '--out', 'x.json']],
    ['images score', ['images', 'score', '--model', 'm.onnx', '--classifier', 'm.onnx', '--out', 'x.json']],
  ])('%s refuses an existing --out (and names --overwrite) before reading anything else', (_label, args) => {
    const cwd = mkdtempSync(join(dir, 'each-'));
    writeFileSync(join(cwd, 'x.json'), 'mine');
    expect(runCli(['grammar', '--out', 'g.json'], cwd).code).toBe(0);
    const flag = args.includes('--csv') ? 'csv' : 'out';
    expectOneLineError(runCli(args, cwd), new RegExp(`invalid --${flag} "x\\.json" \\(it already exists: add --overwrite`));
    expect(readFileSync(join(cwd, 'x.json'), 'utf8')).toBe('mine');
  });

  it('reproduce: Ctrl-C says how to resume; the same command again is refused and keeps every finished line; --resume continues them', async () => {
    const cwd = mkdtempSync(join(dir, 'reproduce-'));
    const results = join(cwd, 'rq', 'results.jsonl');
    const args = ['reproduce', '--quick', '--out', 'rq', '--workers', '1'];
    const cut = await interrupt(args, cwd, () => lineCount(results) >= 5);
    expect(cut.code).toBe(130);
    expect(cut.stderr.trim().split('\n')).toEqual(['reproduce: interrupted (SIGINT): run the same command with --resume to continue (finished cells are saved in rq/results.jsonl)']);
    const kept = readFileSync(results, 'utf8');
    expect(lineCount(results)).toBeGreaterThanOrEqual(5);
    // Before: the same command replaced the file (overwrite) and started from the first cell.
    expectOneLineError(runCli(args, cwd), /^hierdiff: invalid --out "rq" \(it already holds results\.jsonl: run the same command with --resume to continue it, or with --overwrite to start afresh\)$/);
    expect(readFileSync(results, 'utf8')).toBe(kept);
    expectOneLineError(runCli([...args, '--resume', '--overwrite'], cwd), /--overwrite with --resume/);
    // --resume keeps the finished cells (cut again once it has added one).
    const before = lineCount(results);
    const resumed = await interrupt([...args, '--resume'], cwd, () => lineCount(results) > before);
    expect(resumed.code).toBe(130);
    expect(readFileSync(results, 'utf8').startsWith(kept.slice(0, kept.lastIndexOf('\n') + 1))).toBe(true);
  }, 180_000);

  it('train over an interrupted run: refused, pointing to --resume and --overwrite (the checkpoint is kept); Ctrl-C says how to resume', async () => {
    const cwd = mkdtempSync(join(dir, 'train-'));
    const args = ['train', '--steps', '100000', '--width', '8', '--threads', '1', '--checkpoint-every', '20', '--out', 'run'];
    const cut = await interrupt(args, cwd, () => existsSync(join(cwd, 'run', 'checkpoint.json')));
    expect(cut.code).toBe(130);
    expect(cut.stderr.trim().split('\n').pop()).toBe(
      'train: interrupted (SIGINT): run the same command with --resume to continue (from the last checkpoint in run, written every --checkpoint-every steps)',
    );
    const checkpoint = readFileSync(join(cwd, 'run', 'checkpoint.bin'));
    // Before: the same command threw the checkpoint away and trained from step 0.
    expectOneLineError(
      runCli(args, cwd),
      /^hierdiff: invalid --out "run" \(it already holds checkpoint\.json, checkpoint\.bin, grammar\.json, data\.json: run the same command with --resume to continue it, or with --overwrite to start afresh\)$/,
    );
    expect(readFileSync(join(cwd, 'run', 'checkpoint.bin')).equals(checkpoint)).toBe(true);
  }, 120_000);

  it('images demo and images train-mnist over earlier results: refused before any model loads, pointing to --resume and --overwrite', () => {
    const cwd = mkdtempSync(join(dir, 'demo-'));
    mkdirSync(join(cwd, 'mnist-demo'));
    writeFileSync(join(cwd, 'mnist-demo', 'results.jsonl'), 'mine\n');
    expectOneLineError(
      runCli(['images', 'demo', '--quick'], cwd),
      /^hierdiff: invalid --out "mnist-demo" \(it already holds results\.jsonl: run the same command with --resume to continue it, or with --overwrite to start afresh\)$/,
    );
    mkdirSync(join(cwd, 'mnist-models'));
    writeFileSync(join(cwd, 'mnist-models', 'card.json'), '{}');
    expectOneLineError(runCli(['images', 'train-mnist'], cwd), /invalid --out "mnist-models" \(it already holds card\.json: run the same command with --resume/);
    expect(readFileSync(join(cwd, 'mnist-demo', 'results.jsonl'), 'utf8')).toBe('mine\n');
  });
});

describe('a shard of a run is not reported as the whole run', () => {
  let images: string[];
  beforeAll(async () => {
    const d = join(dir, 'img');
    await writeTestImages(join(d, 'images'), { count: 4, size: 32, channels: 3, classes: 2 });
    saveModel(d, 'unet.onnx', tinyUnetModel({ channels: 3, size: 32 }));
    saveModel(d, 'clf.onnx', tinyClassifierModel({ channels: 3, size: 32, classes: 2 }));
    images = [
      'images',
      'forward-backward',
      '--model',
      join(d, 'unet.onnx'),
      '--classifier',
      join(d, 'clf.onnx'),
      '--images',
      join(d, 'images'),
      '--respacing',
      '4',
      '--times',
      '2,4',
      '--batch-size',
      '4',
      '--examples',
      '0',
      '--out',
      join(d, 'out'),
    ];
  });

  it('report of an image shard is refused without --partial, naming the shard and images merge; with --partial the page says so', () => {
    const r = runCli([...images, '--shard', '0/2']);
    expect(r.code, r.stderr).toBe(0);
    const shard = join(dir, 'img', 'out', 'results.shard-0-of-2.jsonl');
    const rep = join(dir, 'img', 'rep');
    expectOneLineError(
      runCli(['report', shard, '--out', rep]),
      /it holds shard 0\/2 of a run, 4 of its 8 units \(merge the shards with hierdiff images merge .*out, or give --partial to draw this shard alone\)$/,
    );
    expect(existsSync(join(rep, 'report.html'))).toBe(false);
    const partial = runCli(['report', shard, '--out', rep, '--partial']);
    expect(partial.code, partial.stderr).toBe(0);
    const html = readFileSync(join(rep, 'report.html'), 'utf8');
    expect(html).toContain('This is shard 0/2 of a sharded run');
    expect(html).toContain('4 units of the run are missing');
  });

  it('an RHM sweep shard likewise', () => {
    const cwd = mkdtempSync(join(dir, 'sweep-shard-'));
    expect(
      runCli(
        ['sweep', '--depth', '2', '--process', 'eps', '--noise-levels', '0.3,0.5', '--samples', '10', '--vocab', '4', '--synonyms', '2', '--workers', '1', '--shard', '0/2', '--out', 's0.jsonl'],
        cwd,
      ).code,
    ).toBe(0);
    expectOneLineError(runCli(['report', 's0.jsonl', '--population', '0'], cwd), /it holds shard 0\/2 of a sweep, 1 of its 2 cells \(merge the shards with hierdiff merge, or give --partial/);
    expect(runCli(['report', 's0.jsonl', '--population', '0', '--partial'], cwd).code).toBe(0);
    expect(readFileSync(join(cwd, 'hierdiff-report', 'report.html'), 'utf8')).toContain('This is shard 0/2 of a sharded sweep');
  });
});

describe('results from a saved grammar record what the file says it is', () => {
  it("forward-backward, sample and posterior --grammar: the file's seed and rng, its path and sha256; --seed as dataSeed", () => {
    const cwd = mkdtempSync(join(dir, 'prov-'));
    expect(runCli(['grammar', '--vocab', '8', '--synonyms', '3', '--depth', '3', '--seed', '42', '--rng', 'python', '--out', 'g.json'], cwd).code).toBe(0);
    const sha256 = createHash('sha256')
      .update(readFileSync(join(cwd, 'g.json')))
      .digest('hex');
    const want = { seed: 42, rng: 'python', grammarFile: 'g.json', grammarSha256: sha256, dataSeed: 0 };
    expect(runCli(['forward-backward', '--grammar', 'g.json', '--process', 'eps', '--noise-levels', '0.5', '--samples', '10', '--workers', '1', '--out', 'fb.json'], cwd).code).toBe(0);
    const fb = JSON.parse(readFileSync(join(cwd, 'fb.json'), 'utf8')).parameters;
    expect(fb).toMatchObject({ ...want, grammarSeeds: [42] });
    expect(runCli(['sample', '--grammar', 'g.json', '--samples', '2', '--out', 's.json'], cwd).code).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 's.json'), 'utf8')).parameters).toMatchObject(want);
    expect(runCli(['posterior', '--grammar', 'g.json', '--tokens', '1,2,3,4,5,6,7,0', '--out', 'p.json'], cwd).code).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 'p.json'), 'utf8')).parameters).toMatchObject(want);
    // Re-exported, the grammar keeps its origin.
    expect(runCli(['grammar', '--grammar', 'g.json', '--out', 'g2.json'], cwd).code).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 'g2.json'), 'utf8'))).toMatchObject({ seed: 42, rng: 'python' });
  });
});
