import { checkInt, ParamError } from '../core/errors.ts';
import { PythonRandom } from '../core/pythonRandom.ts';
import { createRng } from '../core/random.ts';
import { decodeIndex, internalNodeCount, pMax } from '../grammar/count.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount } from '../grammar/params.ts';

/**
 * Training and test sets of the published training code (docs/science.md §7, "Data"): the
 * indices drawn by CPython's `random.sample(range(P_max), train + test)` and their tokens.
 */
export interface PublishedDataset {
  /** Tokens of the training data, train×d row-major (datum n, position i at [n·d + i]). */
  readonly train: Int32Array;
  /** Tokens of the test data, test×d row-major. */
  readonly test: Int32Array;
  /** Dataset indices (published indexing, docs/science.md §1) of the training data, in draw order. */
  readonly trainIndices: number[];
  /** Dataset indices of the test data, in draw order. */
  readonly testIndices: number[];
}

/**
 * CPython's `_randbelow_with_getrandbits(n)` for 1 ≤ n < 2^53 ({@link PythonRandom.randbelowWide}:
 * past 2^32, getrandbits(k) fills 32-bit words least significant first, keeping the top bits of
 * the last word, as every little-endian build does).
 */
export function pythonRandbelow(rng: PythonRandom, n: number): number {
  return rng.randbelowWide(n);
}

/**
 * CPython's `random.sample(range(n), k)` for n < 2^53 without building the range
 * ({@link PythonRandom.sampleRange}): the "set" method draws j = randbelow(n) (redrawing taken
 * ones) and the element is j itself; the "pool" method (n ≤ setsize, so n is small) needs the list
 * and swaps the last free element into the taken slot.
 */
export function pythonSampleRange(rng: PythonRandom, n: number, k: number): number[] {
  return rng.sampleRange(n, k);
}

/**
 * Tokens of the data with the given indices of the published indexing (docs/science.md §1,
 * {@link decodeIndex}), indices.length×d row-major. (Named apart from grammar's `tokensOf`, which
 * views one datum of a tree batch.)
 */
export function tokensOfIndices(g: Grammar, indices: readonly (number | bigint)[]): Int32Array {
  const d = leafCount(g);
  const out = new Int32Array(indices.length * d);
  for (let n = 0; n < indices.length; n++) {
    const batch = decodeIndex(g, BigInt(indices[n]));
    out.set(batch.levels[batch.levels.length - 1], n * d);
  }
  return out;
}

/**
 * The training and test sets exactly as the published code draws them (docs/science.md §7):
 * `random.seed(seed); random.sample(range(P_max), train + test)` in CPython, the first `train`
 * indices for training and the rest for testing, each decoded with {@link decodeIndex}.
 * Unlike the published code, which silently shrinks the test set to P_max − train, a request for
 * more data than exist is refused (ParamError), as is P_max ≥ 2^53 (indices must be exact doubles;
 * the published code itself gives up on sampling without replacement near 2^63): there
 * {@link trainingDataset} uses {@link ownDataset}.
 */
export function publishedDataset(g: Grammar, seed: number, train: number, test: number): PublishedDataset {
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  checkInt('train', train, 0);
  checkInt('test', test, 0);
  const total = pMax(g);
  if (total >= PUBLISHED_SAMPLING_LIMIT) {
    throw new ParamError(
      'train',
      `invalid grammar for the published sampling: P_max = ${total} is at least 2^53, where CPython's random.sample(range(P_max)) is not reproducible here (ownDataset or trainingDataset draw such data with this library's generator)`,
    );
  }
  if (BigInt(train + test) > total) {
    throw new ParamError('train', `invalid train + test ${train + test} (the grammar has only P_max = ${total} distinct data)`);
  }
  const rng = new PythonRandom(seed);
  const indices = pythonSampleRange(rng, Number(total), train + test);
  const trainIndices = indices.slice(0, train);
  const testIndices = indices.slice(train);
  return {
    train: tokensOfIndices(g, trainIndices),
    test: tokensOfIndices(g, testIndices),
    trainIndices,
    testIndices,
  };
}

/**
 * Which generator drew a run's training and test sets: `python`, CPython's
 * `random.sample(range(P_max), train + test)` of the published code, bit for bit
 * ({@link publishedDataset}); `own`, this library's generator ({@link ownDataset}), where that is
 * not reproducible (P_max ≥ 2^53).
 */
export type DataSampler = 'python' | 'own';

/** Largest P_max the published sampling is reproduced for: its indices must be exact doubles. */
export const PUBLISHED_SAMPLING_LIMIT = 2n ** 53n;

/** A training and a test set, disjoint, no datum twice, with the sampler that drew them. */
export interface TrainingDataset {
  readonly sampler: DataSampler;
  readonly train: Int32Array;
  readonly test: Int32Array;
  /**
   * Dataset indices (published indexing, docs/science.md §1) of the training data, in draw order:
   * numbers from the published sampler, decimal strings from ours (they exceed 2^53).
   */
  readonly trainIndices: number[] | string[];
  readonly testIndices: number[] | string[];
}

/** Stream key of {@link ownDataset} ("DATA"). */
const STREAM_OWN_DATA = 0x44415441;

/**
 * Training and test sets drawn with this library's generator (createRng(seed, "DATA")): each datum
 * is drawn top-down as generation does — class uniform, then each internal node's rule uniform, level
 * by level and left to right (the digits of the published indexing) — and a datum drawn before is
 * drawn again, so the `train + test` data are distinct, uniform without replacement like
 * `random.sample`; the first `train` are the training set, the rest the test set. Used where the
 * published sampling is not reproducible (P_max ≥ 2^53); works for every grammar. Time and memory
 * O((train + test)·d), never O(P_max). Indices are the published indexing's, as decimal strings.
 */
export function ownDataset(g: Grammar, seed: number, train: number, test: number): TrainingDataset & { readonly trainIndices: string[]; readonly testIndices: string[] } {
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  checkInt('train', train, 0);
  checkInt('test', test, 0);
  const total = pMax(g);
  if (BigInt(train + test) > total) {
    throw new ParamError('train', `invalid train + test ${train + test} (the grammar has only P_max = ${total} distinct data)`);
  }
  const { tuple: s, synonyms: m, depth: L } = g;
  const d = leafCount(g);
  const internal = internalNodeCount(g);
  const rng = createRng(seed, STREAM_OWN_DATA);
  const count = train + test;
  const tokens = new Int32Array(count * d);
  const indices: string[] = new Array(count);
  const seen = new Set<string>();
  const digits = new Int32Array(internal);
  // The tree of one datum, level by level (levels[ℓ] has s^ℓ nodes).
  const levels = Array.from({ length: L + 1 }, (_, l) => new Int32Array(s ** l));
  for (let n = 0; n < count; ) {
    levels[0][0] = rng.nextInt(g.classes);
    let digit = 0;
    for (let level = 0; level < L; level++) {
      const parents = levels[level];
      const children = levels[level + 1];
      const rules = g.rules[level];
      for (let p = 0; p < parents.length; p++) {
        const k = rng.nextInt(m);
        digits[digit++] = k;
        const base = (parents[p] * m + k) * s;
        for (let j = 0; j < s; j++) children[p * s + j] = rules[base + j];
      }
    }
    const index = indexOfDigits(levels[0][0], digits, m).toString();
    if (seen.has(index)) continue;
    seen.add(index);
    indices[n] = index;
    tokens.set(levels[L], n * d);
    n++;
  }
  return {
    sampler: 'own',
    train: tokens.slice(0, train * d),
    test: tokens.slice(train * d),
    trainIndices: indices.slice(0, train),
    testIndices: indices.slice(train),
  };
}

/** class·m^I + the base-m number of the I rule digits (most significant first): the published index. */
function indexOfDigits(cls: number, digits: Int32Array, m: number): bigint {
  let x = BigInt(cls);
  if (m === 1) return x;
  // Digits are gathered into doubles (exact below 2^53), so the bigint sees few, large steps.
  for (let i = 0; i < digits.length; ) {
    let chunk = 0;
    let scale = 1;
    for (; i < digits.length && scale * m <= 2 ** 53; i++) {
      chunk = chunk * m + digits[i];
      scale *= m;
    }
    x = x * BigInt(scale) + BigInt(chunk);
  }
  return x;
}

/**
 * The training and test sets of `hierdiff train`: the published sampling ({@link publishedDataset},
 * sampler `python`) wherever it is reproducible, i.e. P_max < 2^53, and this library's generator
 * ({@link ownDataset}, sampler `own`) beyond, so every grammar can be trained on.
 */
export function trainingDataset(g: Grammar, seed: number, train: number, test: number): TrainingDataset {
  if (pMax(g) >= PUBLISHED_SAMPLING_LIMIT) return ownDataset(g, seed, train, test);
  return { sampler: 'python', ...publishedDataset(g, seed, train, test) };
}
