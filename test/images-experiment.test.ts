import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createImageDiffusion } from '../src/images/diffusion/imageDiffusion.ts';
import { runImagesExperiment } from '../src/images/experiment/run.ts';
import { openImagesExperiment } from '../src/images/experiment/setup.ts';
import { runCli } from './helpers/cli.ts';
import { gaussianLaw } from './helpers/gaussianData.ts';
import { gaussianDenoiserModel, saveModel, tinyClassifierModel, tinyUnetModel, writeTestImages } from './helpers/imageModels.ts';
import { tempDir } from './helpers/tempDir.ts';
import { meanTolerance, varianceTolerance } from './tolerance.ts';

const root = tempDir('hierdiff-images-');

/**
 * The whole pipeline (image file → preprocessing → q_sample → reverse chain through onnxruntime with
 * batches across units → generated image) against the exact law of the generated pixels: an ONNX
 * model that is the exact ε-predictor of Gaussian data N(μ, s²), and a constant grey original, so
 * every pixel of every trajectory is an independent draw of the propagated law (gaussianLaw).
 */
describe('image forward–backward with an exact Gaussian denoiser', () => {
  const mu = 0.1;
  const s = 0.15;
  const size = 16;
  // Far from μ, so the laws after few steps remember the original (and the two offsets differ).
  const grey = 190;
  const x0 = grey / 127.5 - 1;

  it.each([false, true])('generated pixels follow the exact law (published offset: %s)', async (publishedOffset) => {
    const dir = join(root, `gauss-${publishedOffset}`);
    const images = join(dir, 'images');
    mkdirSync(images, { recursive: true });
    for (let i = 0; i < 3; i++)
      await sharp({ create: { width: size, height: size, channels: 3, background: { r: grey, g: grey, b: grey } } })
        .png()
        .toFile(join(images, `g${i}.png`));
    const d = createImageDiffusion({ respacing: '50' });
    const model = saveModel(dir, 'gauss.onnx', gaussianDenoiserModel(d, mu, s, { channels: 3, size, learnedValue: 0.2 }));
    const clf = saveModel(dir, 'clf.onnx', tinyClassifierModel({ channels: 3, size }));
    const exp = await openImagesExperiment({ model, classifier: clf, images, respacing: '50', steps: [2, 5, 50], trajectories: 4, batchSize: 5, seed: 3, publishedOffset });
    expect(exp.config.model.variance).toBe('learned-range');
    const samples = new Map<number, number[]>();
    try {
      await runImagesExperiment(exp, {
        outDir: join(dir, 'out'),
        version: 'test',
        command: 'test',
        onGenerated: (_i, step, _t, x) => {
          const list = samples.get(step) ?? [];
          for (const v of x) list.push(v);
          samples.set(step, list);
        },
      });
    } finally {
      await exp.release();
    }
    for (const step of [2, 5, 50]) {
      const xs = samples.get(step)!;
      expect(xs.length).toBe(3 * 4 * 3 * size * size);
      // Default: noised to index k−1 and denoised from it; published: noised to index k, denoised from k−1.
      const law = gaussianLaw(d, mu, s, { start: publishedOffset ? step : step - 1, from: step - 1, x0, variance: 'learned-range', sampler: { kind: 'ddpm' }, vValue: 0.2 });
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
      // float32 model outputs and state add ~1e-6 relative error per step: far below the sampling tolerance.
      expect(Math.abs(mean - law.mean)).toBeLessThan(meanTolerance(law.variance, xs.length));
      expect(Math.abs(variance - law.variance)).toBeLessThan(varianceTolerance(law.variance, xs.length));
    }
    // The test tells the offsets apart: at step 2 their variances differ by far more than the tolerance.
    const other = gaussianLaw(d, mu, s, { start: publishedOffset ? 1 : 2, from: 1, x0, variance: 'learned-range', sampler: { kind: 'ddpm' }, vValue: 0.2 });
    const law2 = gaussianLaw(d, mu, s, { start: publishedOffset ? 2 : 1, from: 1, x0, variance: 'learned-range', sampler: { kind: 'ddpm' }, vValue: 0.2 });
    expect(Math.abs(other.variance - law2.variance)).toBeGreaterThan(5 * varianceTolerance(Math.max(other.variance, law2.variance), samples.get(2)!.length));
  });
});

describe('hierdiff images forward-backward, end to end', () => {
  const size = 32;
  let dir: string;
  let args: string[];
  beforeAll(async () => {
    dir = join(root, 'e2e');
    await writeTestImages(join(dir, 'images'), { count: 4, size, channels: 3, classes: 2 });
    saveModel(dir, 'unet.onnx', tinyUnetModel({ channels: 3, size }));
    saveModel(dir, 'clf.onnx', tinyClassifierModel({ channels: 3, size, classes: 2 }));
    args = [
      'images',
      'forward-backward',
      '--model',
      join(dir, 'unet.onnx'),
      '--classifier',
      join(dir, 'clf.onnx'),
      '--images',
      join(dir, 'images'),
      '--respacing',
      '4',
      '--times',
      '1,2,3,4',
      '--trajectories',
      '2',
      '--batch-size',
      '3',
      '--examples',
      '2',
    ];
  });

  it('writes results, summary, figures, the example grid and report.html; same command, same bytes', () => {
    const out = join(dir, 'out');
    const r = runCli([...args, '--out', out]);
    expect(r.stderr).not.toMatch(/unexpected/);
    expect(r.code).toBe(0);
    const lines = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(1 + 4 * 4);
    const header = JSON.parse(lines[0]);
    expect(header.format).toBe('hierdiff.images/1');
    expect(header.config.classifier.layers).toEqual(['stage1', 'stage2', 'stage3']);
    expect(header.config.model.variance).toBe('learned-range');
    const unit = JSON.parse(lines[1]);
    expect(unit.trajectories.length).toBe(2);
    expect(unit.trajectories[0].layers.length).toBe(3);
    expect(unit.labelIndex).toBe(0);
    expect(unit.trajectories[0].labelKept).not.toBeNull();
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.rows.map((row: { step: number }) => row.step)).toEqual([1, 2, 3, 4]);
    for (const row of summary.rows) {
      expect(row.images).toBe(4);
      expect(row.classKept).toBeGreaterThanOrEqual(0);
      expect(row.classKept).toBeLessThanOrEqual(1);
      expect(row.classKeptLabel).toBeDefined();
      expect(row.layers.map((l: { name: string }) => l.name)).toEqual(['stage1', 'stage2', 'stage3']);
      expect(row.chi).not.toBeNull();
      expect(row.layers[0].cosine).toBeLessThanOrEqual(1 + 1e-9);
    }
    // The round trip changes more as t grows.
    expect(summary.rows[3].pixelChange).toBeGreaterThan(summary.rows[0].pixelChange);
    for (const f of [
      'stats.json',
      'report.html',
      'figures/images-class-kept.svg',
      'figures/images-class-kept.png',
      'figures/images-layers.png',
      'figures/images-chi.png',
      'figures/images-examples.png',
      'examples/i0-original.png',
      'examples/i1-k4-generated.png',
      'examples/i1-k2-noised.png',
    ]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(existsSync(join(out, 'examples/i2-original.png'))).toBe(false);
    const page = readFileSync(join(out, 'report.html'), 'utf8');
    expect(page).toContain('on images, with a trained image diffusion model (ONNX) as the denoiser');
    expect(page).not.toContain('Random Hierarchy Model');
    expect(r.stdout).toMatch(/class kept/);

    const again = join(dir, 'again');
    expect(runCli([...args, '--out', again, '--no-report']).code).toBe(0);
    expect(readFileSync(join(again, 'results.jsonl'))).toEqual(readFileSync(join(out, 'results.jsonl')));
    // Other batch sizes: the header records them, the unit lines are the same (streams per image, step and trajectory).
    const batched = join(dir, 'batched');
    const withBatch = args.map((a, i) => (args[i - 1] === '--batch-size' ? '8' : a));
    expect(runCli([...withBatch, '--classifier-batch-size', '5', '--out', batched, '--no-report']).code).toBe(0);
    const unitsOf = (p: string) => readFileSync(p, 'utf8').split('\n').slice(1).join('\n');
    expect(unitsOf(join(batched, 'results.jsonl'))).toBe(unitsOf(join(out, 'results.jsonl')));
  });

  it('resumes a cut run to the same bytes, and refuses to overwrite without --resume or --overwrite', () => {
    const full = readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8');
    const cut = join(dir, 'cut');
    mkdirSync(cut, { recursive: true });
    const lines = full.split('\n');
    // Header, five finished units, and a half-written sixth line.
    writeFileSync(join(cut, 'results.jsonl'), `${lines.slice(0, 6).join('\n')}\n${lines[6].slice(0, 40)}`);
    const refused = runCli([...args, '--out', cut, '--no-report']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n').length).toBe(1);
    expect(refused.stderr).toMatch(/--resume/);
    const r = runCli([...args, '--out', cut, '--no-report', '--resume']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/5 resumed/);
    expect(readFileSync(join(cut, 'results.jsonl'), 'utf8')).toBe(full);
  });

  it('two shards merged give the whole run, byte for byte', () => {
    const sharded = join(dir, 'sharded');
    for (const shard of ['1/2', '0/2']) {
      const r = runCli([...args, '--out', sharded, '--shard', shard]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/images merge/);
    }
    expect(existsSync(join(sharded, 'results.jsonl'))).toBe(false);
    const m = runCli(['images', 'merge', sharded]);
    expect(m.code, m.stderr).toBe(0);
    expect(readFileSync(join(sharded, 'results.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8'));
    expect(readFileSync(join(sharded, 'summary.json'), 'utf8')).toBe(readFileSync(join(dir, 'out', 'summary.json'), 'utf8'));
    expect(existsSync(join(sharded, 'report.html'))).toBe(true);
    // A missing shard is refused.
    const lone = join(dir, 'lone');
    expect(runCli([...args, '--out', lone, '--shard', '0/3', '--times', '1']).code).toBe(0);
    const bad = runCli(['images', 'merge', lone]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/shards 1, 2 of 3 are missing/);
  });

  it('redraws the report from a results file with hierdiff report', () => {
    const to = join(dir, 'redrawn');
    const r = runCli(['report', join(dir, 'out', 'results.jsonl'), '--out', to]);
    expect(r.code).toBe(0);
    expect(existsSync(join(to, 'report.html'))).toBe(true);
    expect(readFileSync(join(to, 'figures', 'images-class-kept.svg'), 'utf8')).toBe(readFileSync(join(dir, 'out', 'figures', 'images-class-kept.svg'), 'utf8'));
  });

  it('refuses bad input in one line, exit 2, nothing written', () => {
    const notOnnx = join(dir, 'not.onnx');
    writeFileSync(notOnnx, 'hello');
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const corrupt = join(dir, 'corrupt');
    mkdirSync(join(corrupt, '0'), { recursive: true });
    writeFileSync(join(corrupt, '0', 'a.png'), readFileSync(join(dir, 'images', '0', 'img000.png')));
    writeFileSync(join(corrupt, '0', 'b.png'), 'not a png');
    const cases: [string[], RegExp][] = [
      [['--model', notOnnx], /not an ONNX model/],
      [['--output-name', 'eps'], /--output-name "eps"/],
      [['--images', empty], /no \.png, \.jpg, \.jpeg files/],
      [['--images', join(dir, 'missing')], /not found/],
      [['--images', corrupt], /b\.png" \(cannot decode/],
      [['--times', '0,5'], /--times/],
      [['--times', '5'], /--times|steps/],
      [['--layers', 'stage9'], /stage9/],
      [['--respacing', 'ddim3x'], /--respacing/],
      [['--sampler', 'euler'], /sampler/],
    ];
    for (const [extra, message] of cases) {
      const out = join(dir, `bad-${extra[0].slice(2)}-${extra[1].length}`);
      const withExtra = [...args];
      for (let i = 0; i < extra.length; i += 2) {
        const at = withExtra.indexOf(extra[i]);
        if (at >= 0) withExtra[at + 1] = extra[i + 1];
        else withExtra.push(extra[i], extra[i + 1]);
      }
      const r = runCli([...withExtra, '--out', out]);
      expect(r.code, `${extra.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n').length).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('hierdiff images schedule and stats', () => {
  it('writes the respaced arrays', () => {
    const out = join(root, 'schedule.json');
    const r = runCli(['images', 'schedule', '--schedule', 'cosine', '--diffusion-steps', '1000', '--respacing', 'ddim50', '--out', out]);
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8'));
    expect(s.timestepMap.length).toBe(50);
    expect(s.timestepMap[1]).toBe(20);
    expect(s.alphasCumprodPrev[0]).toBe(1);
  });

  it('images stats writes per-layer channel statistics that forward-backward accepts', async () => {
    const dir = join(root, 'stats');
    await writeTestImages(join(dir, 'images'), { count: 3, size: 16, channels: 1, classes: 1 });
    const model = saveModel(dir, 'unet.onnx', tinyUnetModel({ channels: 1, size: 16 }));
    const clf = saveModel(dir, 'clf.onnx', tinyClassifierModel({ channels: 1, size: 16 }));
    const common = ['--model', model, '--classifier', clf, '--images', join(dir, 'images')];
    const r = runCli(['images', 'stats', ...common, '--out', join(dir, 'stats.json')]);
    expect(r.code).toBe(0);
    const stats = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8'));
    expect(stats.layers.map((l: { name: string; channels: number }) => [l.name, l.channels])).toEqual([
      ['stage1', 8],
      ['stage2', 16],
      ['stage3', 16],
    ]);
    for (const l of stats.layers) for (let c = 0; c < l.channels; c++) expect(l.meanSquare[c]).toBeGreaterThanOrEqual(l.mean[c] ** 2 - 1e-9);
    const fb = runCli(['images', 'forward-backward', ...common, '--stats', join(dir, 'stats.json'), '--respacing', '3', '--times', '3', '--out', join(dir, 'out'), '--no-report']);
    expect(fb.code).toBe(0);
    expect(existsSync(join(dir, 'out', 'stats.json'))).toBe(false);
    const bad = runCli(['images', 'forward-backward', ...common, '--stats', join(dir, 'images', '0', 'img000.png'), '--respacing', '3', '--out', join(dir, 'out2')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--stats/);
  });
});
