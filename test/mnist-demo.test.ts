import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxClassifier } from '../src/images/models/classifier.ts';
import { OnnxDenoiser } from '../src/images/models/denoiser.ts';
import type { ImagesSummary } from '../src/images/experiment/summary.ts';
import { classifierStageNames, digitClassifierParamShapes, MNIST_CLASSIFIER_CONFIG } from '../src/mnist/classifier.ts';
import { digitClassifierToOnnx } from '../src/mnist/classifierOnnx.ts';
import { countParams, imageUnetParamShapes, MNIST_UNET_CONFIG } from '../src/mnist/unet.ts';
import { imageUnetToOnnx } from '../src/mnist/unetOnnx.ts';
import { heldOutSubset, loadMnist } from '../src/mnist/data.ts';
import { classifierAccuracy } from '../src/mnist/classifierTrain.ts';
import { MNIST_DIFFUSION } from '../src/mnist/unetTrain.ts';
import { readOnnxWeights } from '../src/nn/onnxWeights.ts';
import type { MnistCard } from '../src/mnist/train.ts';
import { mnistModelPaths } from '../src/mnist/shipped.ts';
import { runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { imageUnetReference, outputError, t64, toParams64 } from './helpers/mnistReference.ts';
import { tempDir } from './helpers/tempDir.ts';

const paths = mnistModelPaths();
const card = JSON.parse(readFileSync(paths.card, 'utf8')) as MnistCard;

const dir = tempDir('hierdiff-mnist-demo-');

describe('the shipped MNIST models', () => {
  it('fit in 15 MB, and card.json names their sizes, hashes, parameter counts and the held-out accuracy', () => {
    const total = readdirSync(paths.dir).reduce((a, f) => a + statSync(join(paths.dir, f)).size, 0);
    expect(total).toBeLessThanOrEqual(15 * 1024 * 1024);
    for (const [entry, path] of [
      [card.denoiser, paths.denoiser],
      [card.classifier, paths.classifier],
    ] as const) {
      const bytes = readFileSync(path);
      expect(entry.bytes).toBe(bytes.length);
      expect(entry.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(entry.training.steps).toBeGreaterThan(0);
      expect(entry.training.wallSeconds).toBeGreaterThan(0);
      expect(Number.isFinite(entry.training.finalLoss)).toBe(true);
    }
    expect(card.denoiser.parameters).toBe(countParams(imageUnetParamShapes(MNIST_UNET_CONFIG)));
    expect(card.classifier.parameters).toBe(countParams(digitClassifierParamShapes(MNIST_CLASSIFIER_CONFIG)));
    expect(card.denoiser.config).toEqual(MNIST_UNET_CONFIG);
    expect(card.classifier.config).toEqual(MNIST_CLASSIFIER_CONFIG);
    expect(card.classifier.probedLayers).toEqual(classifierStageNames(MNIST_CLASSIFIER_CONFIG));
    expect(card.trainingCommand).toMatch(/images train-mnist/);
    expect(card.classifier.heldOutAccuracy).toBeGreaterThanOrEqual(0.98);
  });

  it('the denoiser file computes what the exporter (the training graph) makes of its weights, and what the float64 reference computes', async () => {
    const bytes = readFileSync(paths.denoiser);
    const params = readOnnxWeights(bytes, imageUnetParamShapes(MNIST_UNET_CONFIG));
    const exported = imageUnetToOnnx(params, MNIST_UNET_CONFIG, MNIST_DIFFUSION);
    expect(Buffer.from(imageUnetToOnnx(params, MNIST_UNET_CONFIG, MNIST_DIFFUSION)).equals(Buffer.from(exported))).toBe(true);
    const exportedPath = join(dir, 'denoiser-reexported.onnx');
    writeFileSync(exportedPath, exported);
    const digits = heldOutSubset(1);
    const n = 4;
    const x = digits.images.slice(0, n * 1024);
    const timesteps = [0, 250, 600, 999];
    const outputs: Float32Array[] = [];
    for (const path of [paths.denoiser, exportedPath]) {
      const model = await OnnxDenoiser.open(path, { batchSize: n });
      expect(model.timestepType).toBe('float32');
      outputs.push((await model.run(x, n, timesteps)).output);
      await model.release();
    }
    // The shipped file (InstanceNormalization) and the graph's export (LayerNormalization) differ in float32 rounding only.
    const same = outputError(outputs[1], outputs[0]);
    expect(same.error).toBeLessThanOrEqual(same.allowed);
    const want = imageUnetReference(toParams64(params), MNIST_UNET_CONFIG, t64([2, 1, 32, 32], x.subarray(0, 2048)), timesteps.slice(0, 2)).data;
    const ref = outputError(outputs[0].subarray(0, 2048), want);
    expect(ref.error).toBeLessThanOrEqual(ref.allowed);
  });

  it("the classifier file computes what the exporter makes of its weights, with the probed stages, and its accuracy is the card's", async () => {
    const bytes = readFileSync(paths.classifier);
    const params = readOnnxWeights(bytes, digitClassifierParamShapes(MNIST_CLASSIFIER_CONFIG));
    const exportedPath = join(dir, 'classifier-reexported.onnx');
    writeFileSync(exportedPath, digitClassifierToOnnx(params, MNIST_CLASSIFIER_CONFIG));
    const { heldOut } = loadMnist();
    const probe = heldOut.images.subarray(0, 8 * 1024);
    const runs: Awaited<ReturnType<OnnxClassifier['run']>>[] = [];
    for (const path of [paths.classifier, exportedPath]) {
      const clf = await OnnxClassifier.open(path, { batchSize: 8 });
      runs.push(await clf.run(probe, 8));
      await clf.release();
    }
    for (const [a, b] of [[runs[1].logits, runs[0].logits], ...runs[1].layers.map((l, k) => [l.data, runs[0].layers[k].data])]) {
      const { error, allowed } = outputError(a, b);
      expect(error).toBeLessThanOrEqual(allowed);
    }
    expect(await classifierAccuracy(params, MNIST_CLASSIFIER_CONFIG, heldOut)).toBe(card.classifier.heldOutAccuracy);
    // Through onnxruntime, as the experiment runs it: same accuracy up to float32 ties (none expected).
    const classifier = await OnnxClassifier.open(paths.classifier, { batchSize: 250 });
    expect(classifier.layerNames).toEqual(classifierStageNames(MNIST_CLASSIFIER_CONFIG));
    let correct = 0;
    for (let first = 0; first < heldOut.count; first += 250) {
      const { logits, classes } = await classifier.run(heldOut.images.subarray(first * 1024, (first + 250) * 1024), 250);
      for (let i = 0; i < 250; i++) {
        const row = Array.from(logits.subarray(i * classes, (i + 1) * classes));
        if (row.indexOf(Math.max(...row)) === heldOut.labels[first + i]) correct++;
      }
    }
    await classifier.release();
    expect(correct / heldOut.count).toBe(card.classifier.heldOutAccuracy);
  });

  it('sample draws a grid of unconditional samples', async () => {
    const out = join(dir, 'samples.png');
    const r = runCli(['images', 'sample', '--model', paths.denoiser, '--count', '4', '--columns', '2', '--respacing', '10', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
  });
});

describe('images demo', () => {
  // About 30 s of CPU: allowed 4 minutes where the machine is shared.
  it('--quick runs the experiment on held-out digits and writes results, summary, figures and report', async () => {
    const out = join(dir, 'demo');
    // A previous run's digit that is not part of this run must not be picked up.
    mkdirSync(join(out, 'digits', '3'), { recursive: true });
    copyFileSync(join(out, '..', 'samples.png'), join(out, 'digits', '3', '050.png'));
    const r = runCli(['images', 'demo', '--quick', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['results.jsonl', 'summary.json', 'stats.json', 'report.html']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readdirSync(join(out, 'digits'))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ImagesSummary;
    expect(summary.rows.map((row) => row.tOverT)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    for (const row of summary.rows) {
      expect(row.images).toBe(20);
      expect(row.layers.map((l) => l.name)).toEqual(classifierStageNames(MNIST_CLASSIFIER_CONFIG));
      expect(row.chi).not.toBeNull();
    }
    // 20 digits × 2 trajectories: the class survives light noise and is lost at pure noise.
    expect(summary.rows[0].classKept).toBeGreaterThanOrEqual(0.8);
    expect(summary.rows[4].classKept).toBeLessThanOrEqual(0.4);
  }, 240_000);

  it('refuses bad options in one line, before writing anything', async () => {
    const out = join(dir, 'bad');
    const r = runCli(['images', 'demo', '--per-class', '101', '--out', out]);
    expectOneLineError(r, /per-class/);
    expect(existsSync(out)).toBe(false);
    const m = runCli(['images', 'demo', '--models', join(dir, 'nowhere'), '--out', out]);
    expectOneLineError(m, /--models/);
    expect(existsSync(out)).toBe(false);
    const grid = join(dir, 'bad.png');
    expectOneLineError(runCli(['images', 'sample', '--model', paths.classifier, '--out', grid]), /--model|model/);
    expectOneLineError(runCli(['images', 'sample', '--model', paths.denoiser, '--count', '0', '--out', grid]), /--count/);
    expect(existsSync(grid)).toBe(false);
    // Output paths under a file: refused before any work (sampling, writing digits, an hour of training).
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expectOneLineError(runCli(['images', 'sample', '--model', paths.denoiser, '--out', join(file, 'x.png')]), /--out/);
    expectOneLineError(runCli(['images', 'demo', '--quick', '--no-report', '--out', join(file, 'd')]), /--out/);
    expectOneLineError(runCli(['images', 'train-mnist', '--out', join(file, 'm')]), /--out/);
    const models = join(dir, 'models-bad');
    expectOneLineError(runCli(['images', 'train-mnist', '--out', models, '--checkpoints', file]), /--checkpoints/);
    expectOneLineError(runCli(['images', 'train-mnist', '--out', models, '--channels', '16,32,60']), /invalid --channels "16,32,60": .*not divisible by groups 8/);
    expect(existsSync(models)).toBe(false);
  });

  it('train-mnist --channels trains another U-Net (channel counts may repeat), and the card describes the one it trained', () => {
    const out = join(dir, 'models-2-levels');
    // A channel count may repeat from one level to the next (as guided-diffusion's multipliers 1, 2, 4, 8, 8).
    const r = runCli(['images', 'train-mnist', '--steps', '2', '--classifier-steps', '2', '--channels', '8,16,16', '--threads', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
    expect(card.denoiser.config.channels).toEqual([8, 16, 16]);
    expect(card.denoiser.architecture).toContain('at 32, 16, 8 px with 8, 16, 16 channels');
    expect(card.trainingCommand).toContain('--channels 8,16,16');
  }, 240_000);
});
