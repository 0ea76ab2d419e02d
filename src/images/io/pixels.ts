import { checkInt } from '../../core/errors.ts';

/**
 * Pixel arithmetic shared by the CLI and the explorer page (no file or image library here): uint8
 * pixels to the models' float32 scale and back, rounded as the Python pipelines round.
 */

/** Decoded pixels: HWC uint8, rows top to bottom. */
export interface Raw {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/**
 * HWC uint8 → CHW float32 with `x ↦ (x / divisor − mean[k]) / std[k]`, each operation rounded to
 * float32 as numpy/torch float32 arithmetic does (a double result of float32 operands rounded once
 * to float32 is the correctly rounded float32 result), so values match the Python pipelines bit for bit.
 */
export function toCHW(raw: Raw, divisor: number, mean: readonly number[], std: readonly number[]): Float32Array {
  const { data, width, height, channels: c } = raw;
  const plane = width * height;
  const out = new Float32Array(c * plane);
  const f32 = Math.fround;
  for (let k = 0; k < c; k++) {
    const m = f32(mean[k]);
    const s = f32(std[k]);
    for (let i = 0; i < plane; i++) out[k * plane + i] = f32(f32(f32(data[i * c + k] / divisor) - m) / s);
  }
  return out;
}

/** HWC uint8 → CHW float32 in [−1, 1] (x / 127.5 − 1 in float32): a loaded image, or the 'identity' classifier input at the model's own size. */
export function fromUint8(data: Uint8Array, width: number, height: number, channels: number): Float32Array {
  return toCHW({ data, width, height, channels }, 127.5, [1, 1, 1], [1, 1, 1]);
}

/**
 * The saving rule of the published samples, `((x + 1)·127.5).clamp(0, 255).to(uint8)` in float32:
 * clamped, then truncated (NaN becomes 0; values within 1e−4 below an integer count as it, so
 * images loaded by {@link loadForDiffusion} round-trip exactly). Input is CHW with `channels` planes; length must be a multiple of `channels`.
 *
 * @returns HWC uint8 (pixels row-major, channels interleaved), same length as `x`.
 */
export function toUint8(x: Float32Array, channels: number): Uint8Array {
  checkInt('channels', channels, 1);
  if (x.length % channels !== 0) throw new RangeError(`toUint8: length ${x.length} is not a multiple of ${channels} channels`);
  const plane = x.length / channels;
  const out = new Uint8Array(x.length);
  for (let k = 0; k < channels; k++) {
    for (let i = 0; i < plane; i++) {
      // float32 arithmetic as torch does it, plus a 1e−4 nudge: an image read as v/127.5 − 1 in
      // float32 can land a few ulps below v, and must write back as v.
      const v = Math.fround(Math.fround(x[k * plane + i] + 1) * 127.5) + 1e-4;
      out[i * channels + k] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
    }
  }
  return out;
}

/** Input transform of a classifier: see {@link classifierInput}. */
