import type { Command } from 'commander';
import { ParamError } from '../../core/errors.ts';
import { sampleUnconditional } from '../../images/experiment/unconditional.ts';
import { OnnxClassifier } from '../../images/models/classifier.ts';
import { OnnxDenoiser } from '../../images/models/denoiser.ts';
import { accuracy, classifyImages, confidenceStats, scoreClassified } from '../../images/score.ts';
import { HELD_OUT_PER_CLASS, loadMnist, MNIST_SIZE } from '../../mnist/data.ts';
import { checkOutputFile, refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { parseInteger } from '../parse.ts';
import { startProgress } from '../progress.ts';
import { addSamplingOptions, parseSamplingOptions, type SamplingOptionValues } from '../samplingOptions.ts';
import { runInfo } from '../runInfo.ts';

interface ScoreOptionValues extends SamplingOptionValues {
  model: string;
  classifier: string;
  count: string;
  out: string;
  overwrite?: boolean;
}

/** The results file of `hierdiff images score`. */
export const IMAGES_SCORE_FORMAT = 'hierdiff.images-score/1';

/**
 * `hierdiff images score`: unconditional samples of an ONNX diffusion model, drawn exactly as
 * `hierdiff images sample` draws them (same options, same defaults, sample i from its own stream),
 * scored with a classifier against the held-out MNIST digits (docs/images.md "Scoring samples").
 */
export function registerImagesScore(images: Command, argv: readonly string[]): void {
  addSamplingOptions(
    images
      .command('score')
      .description(
        'sample-quality score of an MNIST diffusion model: draws unconditional samples as `images sample` does, classifies them, and writes the fraction classified with confidence ≥ 0.9, the class histogram and its entropy, and the Fréchet distance of classifier features to the held-out digits (docs/images.md)',
      )
      .requiredOption('--model <file>', 'diffusion model (ONNX): inputs x and timesteps, output ε (or ε + variance)')
      .requiredOption(
        '--classifier <file>',
        'classifier (ONNX) with logits first and probed layers after; the last probed layer, averaged over positions, gives the features (e.g. models/mnist/classifier.onnx)',
      )
      .option('--count <n>', 'samples', '1000'),
    'seed (sample i uses its own stream, as in `images sample`)',
  )
    .requiredOption('--out <file>', 'score file to write (JSON)')
    .option('--overwrite', 'replace --out if it exists')
    .action((o: ScoreOptionValues) => runImagesScore(o, argv));
}

/** The command's action: samples, scores and writes --out. */
async function runImagesScore(o: ScoreOptionValues, argv: readonly string[]): Promise<void> {
  const count = parseInteger('count', o.count, 2, 100000);
  const { diffusion: d, diffusionSteps, variance, sampler, seed, batchSize, threads } = parseSamplingOptions(o);
  checkOutputFile('out', o.out);
  refuseExistingFiles([['out', o.out]], o.overwrite);
  const started = performance.now();
  const model = await OnnxDenoiser.open(o.model, { batchSize, threads });
  try {
    const classifier = await OnnxClassifier.open(o.classifier, { batchSize, threads });
    try {
      const shape = checkScoreModels(model, classifier, o);
      // The yardstick first: it is quick, and a classifier that fails at run time fails before the sampling.
      const { heldOut } = loadMnist();
      const reference = await classifyImages(classifier, heldOut.images, heldOut.count);
      const real = await classifyImages(classifier, ...trainingDigits(Math.min(count, TRAINING_YARDSTICK_MAX)));

      const bar = startProgress('images score', count, 'samples');
      const xs = await sampleUnconditional(model, d, { count, variance, sampler, seed, onProgress: (done) => bar.update(done) });
      bar.stop();
      const px = shape[0] * shape[1] * shape[2];
      const flat = new Float32Array(count * px);
      xs.forEach((x, i) => flat.set(x, i * px));
      const samples = await classifyImages(classifier, flat, count);
      const score = scoreClassified(samples, reference);
      const result = {
        format: IMAGES_SCORE_FORMAT,
        run: runInfo(argv),
        seed,
        parameters: {
          model: o.model,
          classifier: o.classifier,
          count,
          schedule: d.schedule,
          diffusionSteps,
          respacing: o.respacing,
          variance,
          sampler: o.sampler,
          seed,
          batchSize,
          threads: threads ?? null,
        },
        count,
        confident90: score.confident90,
        meanMaxProb: score.meanMaxProb,
        classCounts: score.classCounts,
        classEntropy: score.classEntropy,
        classEntropyUnit: 'bits',
        classEntropyMax: Math.log2(samples.classes),
        features: score.features,
        featureDim: score.featureDim,
        fd: score.fd,
        heldOut: {
          images: `MNIST held-out digits: the last ${HELD_OUT_PER_CLASS} of each class`,
          ...confidenceStats(reference),
          accuracy: accuracy(reference, heldOut.labels),
          trainingDigits: real.count,
          fdTrainingDigits: scoreClassified(real, reference).fd,
        },
      };
      writeFileAtomic(o.out, toJsonText(result));
      const seconds = (performance.now() - started) / 1000;
      process.stderr.write(
        `images score: ${count} samples, ${d.steps} steps each: confident90 ${pct(score.confident90)} (held-out ${pct(result.heldOut.confident90)}), fd ${score.fd.toPrecision(4)} (${result.heldOut.trainingDigits} training digits: ${result.heldOut.fdTrainingDigits.toPrecision(3)}), class entropy ${score.classEntropy.toFixed(3)} of ${result.classEntropyMax.toFixed(3)} bits, ${seconds.toFixed(0)} s -> ${o.out}\n`,
      );
    } finally {
      await classifier.release();
    }
  } finally {
    await model.release();
  }
}

/** The model's images and the classifier's input must be MNIST digits, and the classifier must have a probed layer; returns the model's image shape. */
function checkScoreModels(model: OnnxDenoiser, classifier: OnnxClassifier, o: ScoreOptionValues): readonly number[] {
  const shape = model.inputShape;
  if (!shape || (shape[0] !== 1 && shape[0] !== 3)) throw new ParamError('model', `invalid --model "${o.model}" (its image input must have a fixed 1- or 3-channel shape)`);
  const expected = [1, MNIST_SIZE, MNIST_SIZE];
  if (shape.join('×') !== expected.join('×'))
    throw new ParamError('model', `invalid --model "${o.model}" (its images are ${shape.join('×')}; the score compares with MNIST digits, ${expected.join('×')})`);
  if (classifier.layerNames.length === 0) {
    throw new ParamError('classifier', `invalid --classifier "${o.classifier}" (it has no probed layer outputs besides the logits: the Fréchet distance needs one)`);
  }
  if (classifier.inputShape?.join('×') !== expected.join('×')) {
    throw new ParamError(
      'classifier',
      `invalid --classifier "${o.classifier}" (its input is ${classifier.inputShape?.join('×') ?? 'not fixed'}; expected ${expected.join('×')} like the model's images)`,
    );
  }
  return shape;
}

/** At most this many training digits are scored for the fd yardstick (their whole set is 9 000). */
const TRAINING_YARDSTICK_MAX = 9000;

/**
 * `n` real digits of the training split, evenly spaced through it (it is in class order, so every
 * class is represented in proportion): the images and their count.
 */
function trainingDigits(n: number): [Float32Array, number] {
  const { train } = loadMnist();
  const px = MNIST_SIZE * MNIST_SIZE;
  const out = new Float32Array(n * px);
  for (let i = 0; i < n; i++) {
    const src = Math.floor((i * train.count) / n);
    out.set(train.images.subarray(src * px, (src + 1) * px), i * px);
  }
  return [out, n];
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
