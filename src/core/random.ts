/**
 * Seeded random streams. Every random choice in hierdiff flows from an explicit seed through
 * {@link createRng}; a stream key (grammar seed, cell index, ...) derives independent streams
 * so results never depend on scheduling.
 */

/** A source of uniform random numbers. */
export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number;
  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias. */
  nextInt(n: number): number;
  /** Standard normal deviate. */
  normal(): number;
}

/** 32-bit finaliser of MurmurHash3: a bijective avalanche mix. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128-bit state, passes PractRand,
 * and uses only 32-bit integer operations, which V8 runs fast.
 */
export class Sfc32 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal = NaN;

  constructor(a: number, b: number, c: number, d: number) {
    this.a = a >>> 0;
    this.b = b >>> 0;
    this.c = c >>> 0;
    this.d = d >>> 0;
    // Discard the first outputs: nearby seeds start from correlated states.
    for (let i = 0; i < 15; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  nextInt(n: number): number {
    if (n <= 1) return 0;
    // Lemire-free rejection: keep the largest multiple of n below 2^32.
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const z = this.spareNormal;
      this.spareNormal = NaN;
      return z;
    }
    // Box–Muller in polar form: no trigonometry, exact pairs.
    let u: number, v: number, r: number;
    do {
      u = 2 * this.nextFloat() - 1;
      v = 2 * this.nextFloat() - 1;
      r = u * u + v * v;
    } while (r >= 1 || r === 0);
    const scale = Math.sqrt((-2 * Math.log(r)) / r);
    this.spareNormal = v * scale;
    return u * scale;
  }
}

/**
 * The random stream for `seed` and an optional stream key (e.g. grammar seed, cell index).
 * Same arguments, same stream, on every machine. Seeds and keys are non-negative integers
 * below 2^53.
 */
export function createRng(seed: number, ...streamKey: number[]): Rng {
  let h1 = 0x9e3779b9;
  let h2 = 0x243f6a88;
  let h3 = 0xb7e15162;
  let h4 = 0x3c6ef372;
  const words = [seed, ...streamKey, streamKey.length];
  for (const w of words) {
    const lo = w >>> 0;
    const hi = Math.floor(w / 4294967296) >>> 0;
    h1 = mix32(h1 ^ lo);
    h2 = mix32(h2 ^ hi ^ h1);
    h3 = mix32(h3 ^ h2 ^ 0x5bd1e995);
    h4 = mix32(h4 ^ h3 ^ lo);
  }
  return new Sfc32(h1, h2, h3, h4);
}
