import { ParamError } from '../core/errors.ts';

/**
 * A small fixed set of digits in one compact binary (the explorer page's held-out digits):
 * bytes 0–3 "HDG1", 4–5 count (uint16 LE), 6 side, 7 channels, then one label byte per digit,
 * then each digit's pixels as uint8 (CHW), in order. The pixels are the PNG bytes `images demo`
 * writes, so a digit read from here is the image `images forward-backward` reads from its PNG.
 * No file access here: the page decodes what it fetched.
 */

const MAGIC = 'HDG1';

/** Digits as uint8 pixels with their labels. */
export interface DigitsFile {
  count: number;
  size: number;
  channels: number;
  labels: Uint8Array;
  /** count × channels × size × size, digit after digit. */
  pixels: Uint8Array;
}

export function encodeDigits(d: DigitsFile): Uint8Array {
  const per = d.channels * d.size * d.size;
  if (d.labels.length !== d.count || d.pixels.length !== d.count * per) throw new RangeError('encodeDigits: labels or pixels do not match the count');
  const out = new Uint8Array(8 + d.count + d.count * per);
  out.set([...MAGIC].map((c) => c.charCodeAt(0)));
  new DataView(out.buffer).setUint16(4, d.count, true);
  out[6] = d.size;
  out[7] = d.channels;
  out.set(d.labels, 8);
  out.set(d.pixels, 8 + d.count);
  return out;
}

/** Reads a digits file; anything else is a ParamError naming `shownAs`. */
export function decodeDigits(bytes: Uint8Array, shownAs: string): DigitsFile {
  const bad = (why: string): never => {
    throw new ParamError('digits', `invalid digits file ${shownAs} (${why})`);
  };
  if (bytes.length < 8 || String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) bad(`expected the ${MAGIC} header`);
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(4, true);
  const size = bytes[6];
  const channels = bytes[7];
  const per = channels * size * size;
  if (bytes.length !== 8 + count + count * per) bad(`${bytes.length} bytes for ${count} digits of ${channels}×${size}×${size}`);
  return { count, size, channels, labels: bytes.slice(8, 8 + count), pixels: bytes.slice(8 + count) };
}
