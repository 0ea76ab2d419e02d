import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { frechetDistance, gaussianFit, symmetricEigen, type GaussianFit } from '../src/images/frechet.ts';
import { OnnxClassifier } from '../src/images/models/classifier.ts';
import { accuracy, classifyImages, confidenceStats, scoreClassified, scoreImages, type ClassifiedSet } from '../src/images/score.ts';
import { loadMnist } from '../src/mnist/data.ts';
import { OnnxGraphBuilder } from '../src/nn/graphBuilder.ts';
import { runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { saveModel, tinyClassifierModel } from './helpers/imageModels.ts';
import { FLOAT64_EXACT, frechetTolerance } from './tolerance.ts';
import { tempDir } from './helpers/tempDir.ts';

const DENOISER = 'models/mnist/denoiser.onnx';
const CLASSIFIER = 'models/mnist/classifier.onnx';
/** The shipped classifier's held-out accuracy as its card records it. */
const SHIPPED_ACCURACY = (JSON.parse(readFileSync('models/mnist/card.json', 'utf8')) as { classifier: { heldOutAccuracy: number } }).classifier.heldOutAccuracy;

/** A Gaussian given directly by its mean and covariance. */
function givenGaussian(mean: number[], cov: number[][]): GaussianFit {
  return { dim: mean.length, count: 0, mean: Float64Array.from(mean), cov: Float64Array.from(cov.flat()) };
}

function diag(values: number[]): number[][] {
  return values.map((v, i) => values.map((_, j) => (i === j ? v : 0)));
}

/** A random d × d rotation (Gram–Schmidt on seeded normal columns), row-major. */
function rotation(d: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const q = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const v = Float64Array.from({ length: d }, () => rng.normal());
    for (let j = 0; j < k; j++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += v[i] * q[i * d + j];
      for (let i = 0; i < d; i++) v[i] -= dot * q[i * d + j];
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < d; i++) q[i * d + k] = v[i] / norm;
  }
  return q;
}

/** R diag(values) Rᵀ as nested rows. */
function rotated(r: Float64Array, values: number[]): number[][] {
  const d = values.length;
  return Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => values.reduce((s, v, k) => s + r[i * d + k] * v * r[j * d + k], 0)));
}

const trace = (f: GaussianFit) => Array.from({ length: f.dim }, (_, a) => f.cov[a * f.dim + a]).reduce((s, x) => s + x, 0);

describe('Fréchet distance', () => {
  it('matches the closed form for diagonal covariances: Σ(μ₁−μ₂)² + Σ(σ₁−σ₂)²', () => {
    const p = givenGaussian([0, 1, -2, 0.5], diag([1, 4, 0.25, 9]));
    const q = givenGaussian([1, 1, 0, -0.5], diag([4, 1, 1, 0.01]));
    const expected = 1 + 0 + 4 + 1 + ((1 - 2) ** 2 + (2 - 1) ** 2 + (0.5 - 1) ** 2 + (3 - 0.1) ** 2);
    expect(frechetDistance(p, q)).toBeCloseTo(expected, 12);
    expect(Math.abs(frechetDistance(p, q) - expected)).toBeLessThanOrEqual(frechetTolerance(4, trace(p) + trace(q)));
  });

  it('matches the closed form for covariances sharing eigenvectors (rotated diagonals, d = 16)', () => {
    const d = 16;
    const r = rotation(d, 3);
    const rng = createRng(4);
    const a = Array.from({ length: d }, () => 0.1 + 3 * rng.nextFloat());
    const b = Array.from({ length: d }, () => 0.1 + 3 * rng.nextFloat());
    const mu1 = Array.from({ length: d }, () => rng.normal());
    const mu2 = Array.from({ length: d }, () => rng.normal());
    const p = givenGaussian(mu1, rotated(r, a));
    const q = givenGaussian(mu2, rotated(r, b));
    const expected = mu1.reduce((s, m, i) => s + (m - mu2[i]) ** 2, 0) + a.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(b[i])) ** 2, 0);
    expect(Math.abs(frechetDistance(p, q) - expected)).toBeLessThanOrEqual(frechetTolerance(d, trace(p) + trace(q)));
  });

  it('matches the 2 × 2 closed form for covariances that do not commute: tr √M = √(tr Σ₁Σ₂ + 2√(det Σ₁ det Σ₂))', () => {
    const s1 = [
      [2, 0.7],
      [0.7, 1],
    ];
    const s2 = [
      [0.5, -0.3],
      [-0.3, 3],
    ];
    const p = givenGaussian([0.3, -1], s1);
    const q = givenGaussian([1, 2], s2);
    const tr12 = s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0] + s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1];
    const det = (s: number[][]) => s[0][0] * s[1][1] - s[0][1] * s[1][0];
    const expected = 0.7 ** 2 + 3 ** 2 + (3 + 3.5) - 2 * Math.sqrt(tr12 + 2 * Math.sqrt(det(s1) * det(s2)));
    expect(Math.abs(frechetDistance(p, q) - expected)).toBeLessThanOrEqual(frechetTolerance(2, 9.5));
  });

  it('is symmetric and 0 for identical fits (random 32-dim data)', () => {
    const rng = createRng(9);
    const d = 32;
    const x = Float64Array.from({ length: 200 * d }, (_, i) => rng.normal() * (1 + (i % d) / 8));
    const y = Float64Array.from({ length: 300 * d }, (_, i) => rng.normal() + ((i % d) % 3 === 0 ? 0.5 : 0));
    const p = gaussianFit(x, d);
    const q = gaussianFit(y, d);
    const tol = frechetTolerance(d, trace(p) + trace(q));
    expect(frechetDistance(p, q)).toBeGreaterThan(1);
    expect(Math.abs(frechetDistance(p, q) - frechetDistance(q, p))).toBeLessThanOrEqual(tol);
    expect(frechetDistance(p, p)).toBeLessThanOrEqual(tol);
    expect(frechetDistance(p, gaussianFit(x, d))).toBeLessThanOrEqual(tol);
  });

  it('gaussianFit gives the mean and the unbiased covariance', () => {
    const f = gaussianFit([1, 2, 3, 6, 5, 10], 2);
    expect(Array.from(f.mean)).toEqual([3, 6]);
    // x: 1, 3, 5 (var 4); y: 2, 6, 10 (var 16); cov 8.
    expect(Array.from(f.cov)).toEqual([4, 8, 8, 16]);
  });

  it('symmetricEigen reconstructs A = V Λ Vᵀ with orthonormal V (d = 24)', () => {
    const d = 24;
    const rng = createRng(21);
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = i; j < d; j++) a[i * d + j] = a[j * d + i] = rng.normal();
    const { values, vectors: v } = symmetricEigen(a, d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let rec = 0;
        let gram = 0;
        for (let k = 0; k < d; k++) {
          rec += v[i * d + k] * values[k] * v[j * d + k];
          gram += v[k * d + i] * v[k * d + j];
        }
        expect(Math.abs(rec - a[i * d + j])).toBeLessThanOrEqual(d * FLOAT64_EXACT);
        expect(Math.abs(gram - (i === j ? 1 : 0))).toBeLessThanOrEqual(d * FLOAT64_EXACT);
      }
    }
  });
});

describe('score of given images with the shipped classifier', () => {
  let classifier: OnnxClassifier;
  let reference: ClassifiedSet;
  const { heldOut } = loadMnist();
  const noise = new Float32Array(heldOut.images.length);
  createRng(7, 0).fillNormal(noise);
  /** Held-out digits mixed with Gaussian noise: (1 − a)·x + a·z, clipped to [−1, 1]. */
  const mixed = (a: number) => heldOut.images.map((v, i) => Math.max(-1, Math.min(1, (1 - a) * v + a * noise[i])));

  beforeAll(async () => {
    classifier = await OnnxClassifier.open(CLASSIFIER, { batchSize: 100, threads: 1 });
    reference = await classifyImages(classifier, heldOut.images, heldOut.count);
  });
  afterAll(async () => {
    await classifier.release();
  });

  it('features are the last probed layer (stage4, 64 channels) averaged over positions', () => {
    expect(reference.featureName).toBe('stage4, spatial mean');
    expect(reference.featureDim).toBe(64);
    expect(reference.classes).toBe(10);
  });

  it('real held-out digits against themselves: fd 0, confident and balanced, the accuracy of the card', async () => {
    const s = scoreClassified(reference, reference);
    expect(s.fd).toBeLessThanOrEqual(frechetTolerance(64, 2 * 37.35));
    // The shipped classifier: 97.4 % of the held-out digits at ≥ 0.9, 98.2 % right (card.json), 96–106 per class.
    expect(s.confident90).toBeGreaterThan(0.95);
    expect(s.meanMaxProb).toBeGreaterThan(0.95);
    expect(s.classCounts.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(s.classEntropy).toBeGreaterThan(3.3);
    expect(s.classEntropy).toBeLessThanOrEqual(Math.log2(10) + FLOAT64_EXACT);
    expect(accuracy(reference, heldOut.labels)).toBeCloseTo(SHIPPED_ACCURACY, 10);
    expect(s.reference).toEqual(confidenceStats(reference));
    // The same through the no-sampling front door.
    const again = await scoreImages(classifier, { data: heldOut.images, count: heldOut.count }, { data: heldOut.images, count: heldOut.count });
    expect(again.fd).toBeLessThanOrEqual(frechetTolerance(64, 2 * 37.35));
    expect(again.confident90).toBe(s.confident90);
  });

  it('pure noise scores far from the digits: fd ≫ that of noised digits, all in one class', async () => {
    const pure = scoreClassified(
      await classifyImages(
        classifier,
        noise.map((v) => Math.max(-1, Math.min(1, v))),
        heldOut.count,
      ),
      reference,
    );
    // The classifier is confidently wrong on noise (one class for everything), so only fd and
    // the class entropy expose it; fd of real digits is 0 and of lightly noised ones < 1.
    expect(pure.fd).toBeGreaterThan(30);
    expect(pure.classEntropy).toBeLessThan(0.5);
  });

  it('fd grows with the strength of a known degradation (digits mixed with noise)', async () => {
    const fds: number[] = [];
    for (const a of [0, 0.1, 0.3, 0.5, 0.7]) fds.push(scoreClassified(await classifyImages(classifier, mixed(a), heldOut.count), reference).fd);
    for (let i = 1; i < fds.length; i++) expect(fds[i], `fd at strengths ${fds.join(', ')}`).toBeGreaterThan(fds[i - 1]);
    expect(fds[4]).toBeGreaterThan(10);
  });
});

describe('hierdiff images score (CLI)', () => {
  const dir = tempDir('hierdiff-score-');

  const base = ['images', 'score', '--model', DENOISER, '--classifier', CLASSIFIER, '--count', '8', '--respacing', '10', '--threads', '1'];

  it('writes a valid score file; the samples do not depend on the batch size', () => {
    const out = join(dir, 'score.json');
    const r = runCli([...base, '--seed', '3', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const s = JSON.parse(readFileSync(out, 'utf8'));
    expect(s.format).toBe('hierdiff.images-score/1');
    expect(s.run.tool).toBe('hierdiff');
    expect(s.run.command).toContain('hierdiff images score');
    expect(s.seed).toBe(3);
    expect(s.parameters).toMatchObject({ count: 8, respacing: '10', schedule: 'linear', diffusionSteps: 1000, variance: 'fixed-small', sampler: 'ddpm', seed: 3 });
    expect(s.count).toBe(8);
    expect(s.classCounts).toHaveLength(10);
    expect(s.classCounts.reduce((a: number, b: number) => a + b, 0)).toBe(8);
    for (const k of ['confident90', 'meanMaxProb']) expect(s[k]).toBeGreaterThanOrEqual(0), expect(s[k]).toBeLessThanOrEqual(1);
    expect(s.classEntropyUnit).toBe('bits');
    expect(s.features).toBe('stage4, spatial mean');
    expect(s.featureDim).toBe(64);
    expect(s.fd).toBeGreaterThan(0);
    expect(s.heldOut).toMatchObject({ count: 1000, confident90: 0.974, accuracy: SHIPPED_ACCURACY, trainingDigits: 8 });

    const out2 = join(dir, 'score2.json');
    expect(runCli([...base, '--seed', '3', '--batch-size', '3', '--out', out2]).code).toBe(0);
    const s2 = JSON.parse(readFileSync(out2, 'utf8'));
    expect({ ...s2, run: null, parameters: null }).toEqual({ ...s, run: null, parameters: null });
  });

  it('refuses bad input with one line naming the option, exit 2, and no file', () => {
    const noProbes = saveModel(
      dir,
      'no-probes.onnx',
      new OnnxGraphBuilder('logits-only')
        .input('image', 'float32', ['N', 1, 32, 32])
        .output('logits', 'float32', ['N', 1])
        .node('GlobalAveragePool', ['image'], ['pool'])
        .node('Flatten', ['pool'], ['logits'])
        .toBytes(),
    );
    const small = saveModel(dir, 'small.onnx', tinyClassifierModel({ channels: 1, size: 16 }));
    const out = join(dir, 'bad.json');
    const cases: [string[], RegExp][] = [
      [['--model', join(dir, 'missing.onnx')], /--model .*file not found/],
      [['--count', '0'], /--count "0"/],
      [['--count', '2.5'], /--count "2\.5"/],
      [['--respacing', 'abc'], /respacing/],
      [['--threads', '0'], /--threads/],
      [['--classifier', noProbes], /--classifier .*no probed layer/],
      [['--classifier', small], /--classifier .*1×16×16/],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli([...base, ...args, '--out', out]);
      expectOneLineError(r, pattern);
      expect(existsSync(out), args.join(' ')).toBe(false);
    }
    // Unwritable places: under a file, under /proc. (A missing folder is created, as for every command.)
    expectOneLineError(runCli([...base, '--out', join(small, 'x.json')]), /--out/);
    expectOneLineError(runCli([...base, '--out', '/proc/score.json']), /--out/);
  });
});
