import { ParamError } from './errors.ts';

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
  /**
   * Fills `out` with standard normal deviates: the bulk path for large noise arrays (image
   * diffusion). Its sequence differs from repeated {@link Rng.normal} calls.
   */
  fillNormal(out: Float32Array | Float64Array): void;
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

  fillNormal(out: Float32Array | Float64Array): void {
    // Ziggurat (Marsaglia & Tsang 2000, 128 layers), one 32-bit draw per deviate: layer and sign
    // from the low 8 bits, the magnitude from the disjoint top 24 (the overlap Doornik 2005 warned
    // about is avoided), the generator's state kept in locals. Exact in distribution up to the
    // magnitude's 24-bit grid (steps ≤ 2.2e−7, below float32 resolution of the images it noises).
    // |0: int32 locals (the fields may hold uint32 doubles), or V8 keeps them as doubles throughout.
    let a = this.a | 0;
    let b = this.b | 0;
    let c = this.c | 0;
    let d = this.d | 0;
    const X = ZIGGURAT_X;
    const n = out.length;
    let i = 0;
    while (i < n) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      // Disjoint bits of one draw: 7 for the layer, 1 for the sign, the top 24 for the magnitude.
      const layer = t & 127;
      const sign = t & 128 ? -1 : 1;
      const z = (t >>> 8) * 5.9604644775390625e-8 * X[layer];
      if (z < X[layer + 1]) {
        out[i++] = sign * z;
        continue;
      }
      // Rare (≈ 1.2 %): the tail beyond R or a layer's wedge, drawn through the object's state.
      this.a = a;
      this.b = b;
      this.c = c;
      this.d = d;
      const w = this.zigguratEdge(layer, z);
      a = this.a | 0;
      b = this.b | 0;
      c = this.c | 0;
      d = this.d | 0;
      if (w >= 0) out[i++] = sign * w;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  /** The ziggurat's slow path for |z| = z in `layer`: a tail draw (layer 0), or z if it falls under the density, else −1 (rejected). */
  private zigguratEdge(layer: number, z: number): number {
    if (layer === 0) {
      let x: number;
      let y: number;
      do {
        x = -Math.log(1 - this.nextFloat()) / ZIGGURAT_R;
        y = -Math.log(1 - this.nextFloat());
      } while (y + y < x * x);
      return ZIGGURAT_R + x;
    }
    return ZIGGURAT_F[layer] + this.nextFloat() * (ZIGGURAT_F[layer + 1] - ZIGGURAT_F[layer]) < Math.exp(-0.5 * z * z) ? z : -1;
  }
}

/** Right edge of the ziggurat's base layer (where the tail starts) and the area of each of its 128 layers. */
const ZIGGURAT_R = 3.442619855899;
const ZIGGURAT_V = 9.91256303526217e-3;
/**
 * Layer edges x_0 > x_1 = R > … > x_127 > x_128 = 0 of the normal ziggurat, f(x) = exp(−x²/2):
 * x_0 = V/f(R), x_{i+1} = f⁻¹(f(x_i) + V/x_i); F_i = f(x_i).
 */
const ZIGGURAT_X = new Float64Array(129);
const ZIGGURAT_F = new Float64Array(129);
{
  const f = (x: number) => Math.exp(-0.5 * x * x);
  ZIGGURAT_X[0] = ZIGGURAT_V / f(ZIGGURAT_R);
  ZIGGURAT_X[1] = ZIGGURAT_R;
  for (let i = 1; i < 127; i++) ZIGGURAT_X[i + 1] = Math.sqrt(-2 * Math.log(f(ZIGGURAT_X[i]) + ZIGGURAT_V / ZIGGURAT_X[i]));
  ZIGGURAT_X[128] = 0;
  for (let i = 0; i <= 128; i++) ZIGGURAT_F[i] = f(ZIGGURAT_X[i]);
}

/**
 * The random stream for `seed` and an optional stream key (e.g. grammar seed, cell index).
 * Same arguments, same stream, on every machine. Seeds and keys must be non-negative safe
 * integers (below 2^53): anything else (NaN, 0.5, −1, 2^53) would alias another stream, so it
 * throws a ParamError on `seed`.
 */
export function createRng(seed: number, ...streamKey: number[]): Rng {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ParamError('seed', `invalid seed ${String(seed)} (expected an integer in [0, ${Number.MAX_SAFE_INTEGER}])`);
  }
  for (let i = 0; i < streamKey.length; i++) {
    const k = streamKey[i];
    if (!Number.isSafeInteger(k) || k < 0) {
      throw new ParamError('seed', `invalid random stream key ${String(k)} at position ${i} (expected an integer in [0, ${Number.MAX_SAFE_INTEGER}])`);
    }
  }
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
