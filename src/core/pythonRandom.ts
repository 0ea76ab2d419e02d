/**
 * A bit-for-bit port of the parts of CPython's `random.Random` that the published RHM code uses
 * (docs/science.md §1, "Reference-compatible rules"): MT19937 seeded from an integer via `init_by_array`,
 * `getrandbits(k ≤ 32)`, `_randbelow` and `sample`.
 */

const N = 624;
const M = 397;

export class PythonRandom {
  private readonly mt = new Uint32Array(N);
  private index = N;

  /** Equivalent of `random.Random(seed)` for a non-negative integer seed below 2^53. */
  constructor(seed: number) {
    this.seed(seed);
  }

  /** CPython `seed(int)`: the key is the 32-bit chunks of |seed|, least significant first; 0 → [0]. */
  seed(seed: number): void {
    let x = Math.abs(Math.trunc(seed));
    const key: number[] = [];
    do {
      key.push(x % 4294967296);
      x = Math.floor(x / 4294967296);
    } while (x > 0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  private initByArray(key: number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.index = N;
  }

  private twist(): void {
    const mt = this.mt;
    for (let kk = 0; kk < N; kk++) {
      const y = (mt[kk] & 0x80000000) | (mt[(kk + 1) % N] & 0x7fffffff);
      mt[kk] = mt[(kk + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** MT19937 `genrand_uint32`. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `getrandbits(k)` for 1 ≤ k ≤ 32. */
  getrandbits(k: number): number {
    return this.nextUint32() >>> (32 - k);
  }

  /** `_randbelow(n)` (getrandbits rejection), 1 ≤ n < 2^32. */
  randbelow(n: number): number {
    const k = 32 - Math.clz32(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /**
   * `_randbelow(n)` for 1 ≤ n < 2^53: {@link randbelow} below 2^32; past that CPython's
   * getrandbits(k) fills 32-bit words least significant first, keeping the top bits of the last
   * word (little-endian builds, i.e. every machine the published code runs on).
   */
  randbelowWide(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`randbelow needs an integer in [1, 2^53), got ${n}`);
    if (n < 2 ** 32) return this.randbelow(n);
    // n.bit_length(), exact (a float log2 can round up just below a power of two).
    const bits = BigInt(n).toString(2).length;
    const high = bits - 32; // 1 … 21 bits from the second word
    for (;;) {
      const lo = this.nextUint32();
      const hi = this.nextUint32() >>> (32 - high);
      const r = hi * 4294967296 + lo;
      if (r < n) return r;
    }
  }

  /**
   * `sample(range(n), k)` for n < 2^53 without building the range (what {@link sample} returns on
   * the list 0 … n − 1): the "set" method's element is the drawn index itself, and the "pool"
   * method only runs when n ≤ setsize, i.e. n is small. Memory O(k), not O(n).
   */
  sampleRange(n: number, k: number): number[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`population size must be an integer in [0, 2^53), got ${n}`);
    if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError('sample larger than population or negative');
    const setsize = sampleSetsize(k);
    const result: number[] = new Array(k);
    if (n <= setsize) {
      const pool = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = this.randbelowWide(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelowWide(n);
        while (selected.has(j)) j = this.randbelowWide(n);
        selected.add(j);
        result[i] = j;
      }
    }
    return result;
  }

  /** `sample(population, k)`: k distinct items, in CPython's order (the draws of {@link sampleRange} on its indices). */
  sample<T>(population: readonly T[], k: number): T[] {
    return this.sampleRange(population.length, k).map((j) => population[j]);
  }
}

/** CPython sample()'s setsize: 21, plus 4^⌈log₄(3k)⌉ when k > 5 (same float expression). */
function sampleSetsize(k: number): number {
  // 3k is never a power of 4, so the floating log cannot sit on an integer boundary.
  return k > 5 ? 21 + 4 ** Math.ceil(Math.log(k * 3) / Math.log(4)) : 21;
}
