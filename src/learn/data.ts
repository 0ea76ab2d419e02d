import { checkInt, ParamError } from '../core/errors.ts';
import { PythonRandom } from '../core/pythonRandom.ts';
import { decodeIndex, pMax } from '../grammar/count.ts';
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
 * CPython's `_randbelow_with_getrandbits(n)` for 1 ≤ n < 2^53: k = n.bit_length(), redraw
 * `getrandbits(k)` until below n. PythonRandom covers only n < 2^32; past that CPython's
 * getrandbits(k) fills 32-bit words least significant first, keeping the top bits of the last
 * word (little-endian builds, i.e. every machine the published code runs on).
 */
export function pythonRandbelow(rng: PythonRandom, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`randbelow needs an integer in [1, 2^53), got ${n}`);
  if (n < 2 ** 32) return rng.randbelow(n);
  // n.bit_length(), exact (a float log2 can round up just below a power of two).
  const bits = BigInt(n).toString(2).length;
  const high = bits - 32; // 1 … 21 bits from the second word
  for (;;) {
    const lo = rng.nextUint32();
    const hi = rng.nextUint32() >>> (32 - high);
    const r = hi * 4294967296 + lo;
    if (r < n) return r;
  }
}

/**
 * CPython's `random.sample(range(n), k)` for n < 2^53 without building the range: the "set"
 * method draws j = randbelow(n) (redrawing taken ones) and the element is j itself; the "pool"
 * method (n ≤ setsize, so n is small) needs the list and swaps the last free element into the
 * taken slot. setsize = 21, plus 4^⌈log₄(3k)⌉ when k > 5, exactly as CPython computes it.
 */
export function pythonSampleRange(rng: PythonRandom, n: number, k: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`population size must be an integer in [0, 2^53), got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError('sample larger than population or negative');
  let setsize = 21;
  // Same float expression as CPython's _ceil(_log(k * 3, 4)); 3k is never a power of 4.
  if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
  const result: number[] = new Array(k);
  if (n <= setsize) {
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = pythonRandbelow(rng, n - i);
      result[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
  } else {
    const selected = new Set<number>();
    for (let i = 0; i < k; i++) {
      let j = pythonRandbelow(rng, n);
      while (selected.has(j)) j = pythonRandbelow(rng, n);
      selected.add(j);
      result[i] = j;
    }
  }
  return result;
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
 * the published code itself gives up on sampling without replacement near 2^63).
 */
export function publishedDataset(g: Grammar, seed: number, train: number, test: number): PublishedDataset {
  checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  checkInt('train', train, 0);
  checkInt('test', test, 0);
  const total = pMax(g);
  if (total >= 2n ** 53n) {
    throw new ParamError('train', `P_max = ${total} is at least 2^53: the published sampling without replacement is not reproducible here`);
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
