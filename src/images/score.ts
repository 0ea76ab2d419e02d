import { softmaxRows } from './models/logits.ts';
import { ParamError } from '../core/errors.ts';
import { frechetDistance, gaussianFit } from './frechet.ts';
import { channelAxis, type OnnxClassifier } from './models/classifier.ts';

/**
 * A sample-quality score for image diffusion models (docs/images.md "Scoring samples"): how
 * confidently a classifier recognises the samples, how evenly they spread over the classes, and
 * the Fréchet distance between the classifier features of the samples and of reference images.
 */

/** A set of images as the score sees them: the classifier's probabilities and features of each. */
export interface ClassifiedSet {
  count: number;
  classes: number;
  /** count × classes, row-major: softmax of the logits, float64. */
  probs: Float64Array;
  /** Dimension of a feature vector. */
  featureDim: number;
  /** count × featureDim, row-major: the feature vector of each image. */
  features: Float64Array;
  /** What the features are, e.g. `stage4, spatial mean`. */
  featureName: string;
}

/** Classification statistics of one set of images. */
export interface ConfidenceStats {
  count: number;
  /** Fraction of images whose top softmax probability is ≥ 0.9. */
  confident90: number;
  /** Mean over images of the top softmax probability. */
  meanMaxProb: number;
  /** Number of images whose top class is c, c = 0 … classes − 1 (ties: the first class). */
  classCounts: number[];
  /** Shannon entropy of classCounts / count, in bits: log₂(classes) when the classes are equally frequent, 0 when one class takes all. */
  classEntropy: number;
}

/** The score of a set of samples against reference images. */
export interface ImageScore extends ConfidenceStats {
  /** The features the Fréchet distance is computed on. */
  features: string;
  featureDim: number;
  /** Fréchet distance between Gaussian fits of the samples' and the references' features (src/images/frechet.ts). */
  fd: number;
  /** The reference images' own statistics: the yardstick for the samples'. */
  reference: ConfidenceStats;
}

/** Images whose top probability reaches this count as confidently classified. */
export const CONFIDENT = 0.9;

/**
 * Runs the classifier over `count` images (count × C×H×W, row-major, in the classifier's input
 * range) in batches of its batch size, and keeps the softmax probabilities (float64) and the
 * features: the LAST probed layer averaged over its positions (spatial mean of an N×C×H×W map, mean
 * over tokens of N×T×C, the vector itself for N×C). A classifier without a probed layer is a
 * ParamError 'classifier'.
 */
export async function classifyImages(classifier: OnnxClassifier, images: Float32Array, count: number, onProgress?: (done: number, total: number) => void): Promise<ClassifiedSet> {
  const layer = classifier.layerNames.at(-1);
  if (layer === undefined) {
    throw new ParamError('classifier', `invalid --classifier "${classifier.path}" (it has no probed layer outputs besides the logits: the Fréchet distance needs one)`);
  }
  const shape = classifier.inputShape;
  if (!shape) throw new ParamError('image-size', `the classifier "${classifier.path}" does not fix C×H×W`);
  const px = shape[0] * shape[1] * shape[2];
  if (images.length !== count * px) throw new RangeError(`images has ${images.length} values, expected ${count}×${shape.join('×')}`);
  let probs = new Float64Array(0);
  let features = new Float64Array(0);
  let classes = 0;
  let featureDim = 0;
  let featureName = layer;
  for (let first = 0; first < count; first += classifier.batchSize) {
    const n = Math.min(classifier.batchSize, count - first);
    const out = await classifier.run(images.subarray(first * px, (first + n) * px), n);
    const act = out.layers[out.layers.length - 1];
    if (first === 0) {
      classes = out.classes;
      const axis = channelAxis(act.shape);
      featureDim = act.shape[axis];
      featureName = `${layer}, ${act.shape.length === 4 ? 'spatial mean' : act.shape.length === 3 ? 'mean over positions' : 'as is'}`;
      probs = new Float64Array(count * classes);
      features = new Float64Array(count * featureDim);
    }
    softmaxRows(out.logits, n, classes, probs.subarray(first * classes, (first + n) * classes));
    meanOverPositions(act.data, act.shape, features.subarray(first * featureDim, (first + n) * featureDim));
    onProgress?.(first + n, count);
  }
  return { count, classes, probs, featureDim, features, featureName };
}

/** Confidence and class statistics of a classified set (the fields of {@link ConfidenceStats}). */
export function confidenceStats(set: ClassifiedSet): ConfidenceStats {
  const { count, classes, probs } = set;
  const classCounts = new Array<number>(classes).fill(0);
  let confident = 0;
  let sumMax = 0;
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (probs[i * classes + k] > probs[i * classes + best]) best = k;
    const top = probs[i * classes + best];
    classCounts[best]++;
    sumMax += top;
    if (top >= CONFIDENT) confident++;
  }
  let entropy = 0;
  for (const c of classCounts) if (c > 0) entropy -= (c / count) * Math.log2(c / count);
  return { count, confident90: confident / count, meanMaxProb: sumMax / count, classCounts, classEntropy: entropy };
}

/**
 * The score of `samples` against `reference` (both classified by the same classifier): the
 * samples' {@link ConfidenceStats}, the Fréchet distance between the two sets' features, and the
 * reference's own statistics. Pure; both sets need at least 2 images.
 */
export function scoreClassified(samples: ClassifiedSet, reference: ClassifiedSet): ImageScore {
  if (samples.featureDim !== reference.featureDim || samples.classes !== reference.classes) {
    throw new ParamError('classifier', 'invalid sets (the samples and the references were classified by different classifiers)');
  }
  const fd = frechetDistance(gaussianFit(samples.features, samples.featureDim), gaussianFit(reference.features, reference.featureDim));
  return { ...confidenceStats(samples), features: samples.featureName, featureDim: samples.featureDim, fd, reference: confidenceStats(reference) };
}

/**
 * Scores a given set of images (no sampling) against reference images with the classifier:
 * {@link classifyImages} on both, then {@link scoreClassified}. Images are count × C×H×W, row-major.
 */
export async function scoreImages(classifier: OnnxClassifier, images: { data: Float32Array; count: number }, reference: { data: Float32Array; count: number }): Promise<ImageScore> {
  const samples = await classifyImages(classifier, images.data, images.count);
  const ref = await classifyImages(classifier, reference.data, reference.count);
  return scoreClassified(samples, ref);
}

/** Per item of a batch-first activation, the mean over every axis but the channel axis ({@link channelAxis}). */
function meanOverPositions(data: Float32Array, shape: readonly number[], out: Float64Array): void {
  const n = shape[0];
  const axis = channelAxis(shape);
  const channels = shape[axis];
  const per = data.length / n;
  // Layout per item: [outer][channels][inner]; NCHW has outer 1, inner H·W; N×T×C has outer T, inner 1.
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = per / (channels * inner);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let o = 0; o < outer; o++) {
        const base = i * per + (o * channels + c) * inner;
        for (let j = 0; j < inner; j++) sum += data[base + j];
      }
      out[i * channels + c] = sum / (outer * inner);
    }
  }
}

/** Fraction of the set's images whose top class is their label (labels: one per image). */
export function accuracy(set: ClassifiedSet, labels: ArrayLike<number>): number {
  if (labels.length !== set.count) throw new RangeError(`labels has ${labels.length} entries, expected ${set.count}`);
  let right = 0;
  for (let i = 0; i < set.count; i++) {
    let best = 0;
    for (let k = 1; k < set.classes; k++) if (set.probs[i * set.classes + k] > set.probs[i * set.classes + best]) best = k;
    if (best === labels[i]) right++;
  }
  return right / set.count;
}
