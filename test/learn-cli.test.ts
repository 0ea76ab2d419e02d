import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { monteCarloTolerance } from './tolerance.ts';
import { tempDir } from './helpers/tempDir.ts';

const root = tempDir('hierdiff-learn-');

describe('hierdiff train → evaluate, end to end', () => {
  let dir: string;
  beforeAll(() => {
    dir = join(root, 'run');
  });

  it('trains a few hundred steps, exports ONNX, and the samples beat random tokens at the lowest layer', () => {
    const r = runCli(['train', '--train-size', '512', '--steps', '300', '--width', '64', '--threads', '2', '--checkpoint-every', '150', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['model.onnx', 'checkpoint.bin', 'checkpoint.json', 'grammar.json', 'data.json', 'train.json']) expect(existsSync(join(dir, f)), f).toBe(true);
    const log = JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8'));
    expect(log.train.size).toBe(512);
    expect([log.train.lr, log.train.warmup, log.train.lrDecay, log.train.threads]).toEqual([0.01, 100, 'none', 2]);
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).step).toBe(300);
    expect(log.windows.length).toBe(4);
    // The test loss every --test-every (500) steps and after the last: one point here, too few for the criterion.
    expect(log.testLoss.map((p: { step: number }) => p.step)).toEqual([300]);
    expect(log.testLoss[0].value).toBeGreaterThan(0);
    expect(log.convergence).toBeNull();
    const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
    expect(data.train.length).toBe(512);
    expect(data.test.length).toBe(1024);

    const out = join(dir, 'e.json');
    const e = runCli([
      'evaluate',
      '--model',
      join(dir, 'model.onnx'),
      '--grammar',
      join(dir, 'grammar.json'),
      '--train-data',
      join(dir, 'data.json'),
      '--samples',
      '300',
      '--forward-backward',
      '--times',
      '10,200',
      '--fb-samples',
      '100',
      '--out',
      out,
    ]);
    expect(e.code, e.stderr).toBe(0);
    const ev = JSON.parse(readFileSync(out, 'utf8'));
    // docs/science.md §7: uniformly random tokens are valid at layer 1 with probability f = 0.375 (300 samples × 4 nodes).
    // Measured after these 300 steps (default lr 1e−2, warm-up 100): 0.80, 0.32, 0.023 by layer.
    expect(ev.validByLayer[0]).toBeGreaterThan(0.375 + monteCarloTolerance(0.375, 1200));
    expect(ev.copies).toBeGreaterThanOrEqual(0);
    expect(ev.forwardBackward.map((row: { t: number }) => row.t)).toEqual([10, 200]);
    // At small noise (t = 10, 1 − ᾱ ≈ 0.06) exact BP keeps the class nearly always (measured 0.9 of 100).
    expect(ev.forwardBackward[0].bp.classKept).toBeGreaterThan(0.8);
  });

  it('refuses bad input in one line, exit 2, nothing written', () => {
    writeFileSync(join(root, 'not.onnx'), 'nope');
    const cases: [string[], RegExp, string][] = [
      [['train', '--train-size', '20000', '--out', join(root, 'bad1')], /--train-size 20000/, join(root, 'bad1')],
      [['train', '--width', '0', '--out', join(root, 'bad2')], /--width/, join(root, 'bad2')],
      [['train', '--process', 'gauss', '--out', join(root, 'bad3')], /process/, join(root, 'bad3')],
      [['train', '--threads', '0', '--out', join(root, 'bad9')], /invalid --threads "0"/, join(root, 'bad9')],
      [['train', '--threads', 'two', '--out', join(root, 'bad10')], /--threads/, join(root, 'bad10')],
      [['train', '--warmup', '-1', '--out', join(root, 'bad11')], /--warmup/, join(root, 'bad11')],
      [['train', '--lr-decay', 'step', '--out', join(root, 'bad13')], /--lr-decay|lr-decay/, join(root, 'bad13')],
      [['learn-study', '--train-sizes', '16', '--threads', '0', '--out', join(root, 'bad12')], /invalid --threads "0"/, join(root, 'bad12')],
      [['evaluate', '--model', join(root, 'not.onnx'), '--grammar', join(dir, 'grammar.json'), '--out', join(root, 'bad4.json')], /not an ONNX model/, join(root, 'bad4.json')],
      [['evaluate', '--model', join(dir, 'model.onnx'), '--grammar', join(root, 'missing.json'), '--out', join(root, 'bad5.json')], /--grammar/, join(root, 'bad5.json')],
      [
        ['evaluate', '--model', join(dir, 'model.onnx'), '--grammar', join(dir, 'grammar.json'), '--times', '0,500', '--forward-backward', '--out', join(root, 'bad6.json')],
        /--times/,
        join(root, 'bad6.json'),
      ],
      [['learn-study', '--train-sizes', '0', '--out', join(root, 'bad7')], /--train-sizes/, join(root, 'bad7')],
      [['train', '--grammar', join(dir, 'grammar.json'), '--depth', '6', '--out', join(root, 'bad8')], /invalid --depth 6 \(the grammar in .* has depth 3\)/, join(root, 'bad8')],
    ];
    for (const [args, message, path] of cases) {
      const r = runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n').length).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(existsSync(path)).toBe(false);
    }
    // A study whose report could not be written is refused before any training, leaving nothing new.
    const blocked = join(root, 'blocked');
    mkdirSync(join(blocked, 'report.html'), { recursive: true });
    const r = runCli(['learn-study', '--train-sizes', '16', '--steps', '1', '--out', blocked]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--out/);
    expect(readdirSync(blocked)).toEqual(['report.html']);
  });
});

describe('hierdiff learn-study, end to end on a tiny run', () => {
  it('trains two sizes with a test-loss curve, summarises crossings and class-kept gaps, and keeps finished sizes on --resume', () => {
    const out = join(root, 'study');
    const args = [
      'learn-study',
      '--train-sizes',
      '64,32',
      '--steps',
      '40',
      '--test-every',
      '10',
      '--test-size',
      '64',
      '--width',
      '8',
      '--threads',
      '1',
      '--samples',
      '40',
      '--fb-samples',
      '10',
      '--times',
      '4,40',
      '--out',
      out,
    ];
    const r = runCli(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/train P=32: /);
    const study = JSON.parse(readFileSync(join(out, 'study.json'), 'utf8'));
    expect(study.points.map((p: { trainSize: number }) => p.trainSize)).toEqual([32, 64]);
    for (const p of study.points) {
      expect(p.testLoss.map((q: { step: number }) => q.step)).toEqual([10, 20, 30, 40]);
      // The windows (24, 32] and (32, 40] hold the measurements at steps 30 and 40.
      expect(p.convergence.rule).toContain('over steps 32–40');
      expect(p.convergence.rule).toContain('1 and 1 measurements');
      expect(typeof p.convergence.converged).toBe('boolean');
    }
    expect(study.summary.validityThreshold).toBe(0.9);
    expect(study.summary.crossings).toHaveLength(3);
    expect(study.summary.classKeptGaps.map((x: { trainSize: number }) => x.trainSize)).toEqual([32, 64]);
    expect(r.stdout).toMatch(/validity 0\.9 reached for good at P ≈ layer 1: /);
    // Finished sizes are kept: a resumed call trains nothing and writes the same points.
    const again = runCli([...args, '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/train P=/);
    expect(JSON.parse(readFileSync(join(out, 'study.json'), 'utf8')).points).toEqual(study.points);
  });
  it('--max-steps keeps a size that converged at --steps, and is refused with a decay that depends on the total steps', () => {
    const out = join(root, 'study-max');
    // The tiny model's held-out loss is flat from the start: converged at 20 steps, nothing continued (the decisions: test/learn-study.test.ts).
    const args = [
      'learn-study',
      '--train-sizes',
      '32',
      '--steps',
      '20',
      '--max-steps',
      '80',
      '--test-every',
      '2',
      '--test-size',
      '64',
      '--width',
      '8',
      '--threads',
      '1',
      '--samples',
      '20',
      '--fb-samples',
      '5',
      '--times',
      '4',
      '--lr-decay',
      'none',
      '--out',
      out,
    ];
    const r = runCli(args);
    expect(r.code, r.stderr).toBe(0);
    const [p] = JSON.parse(readFileSync(join(out, 'study.json'), 'utf8')).points;
    expect(p.convergence.converged).toBe(true);
    expect(p.steps).toBe(20);
    expect(r.stderr).not.toMatch(/continued to/);
    expect(r.stdout).toMatch(/ {4}steps {2}train s/);
    const again = runCli([...args, '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/train P=/);
    const cosine = runCli([...args.slice(0, -4), '--lr-decay', 'cosine', '--out', join(root, 'study-cosine')]);
    expect(cosine.code).toBe(2);
    expect(cosine.stderr.trim().split('\n')).toHaveLength(1);
    expect(cosine.stderr).toMatch(/--max-steps.*--lr-decay none/);
  });
});
