import sharp from 'sharp';
import { writeAtomic } from '../../core/atomicWrite.ts';
import { checkInt } from '../../core/errors.ts';
import { toUint8 } from './preprocess.ts';

/** Encodes HWC uint8 pixels as PNG; one channel is written as a greyscale PNG, not RGB. */
async function encodePng(pixels: Uint8Array, channels: number, height: number, width: number): Promise<Uint8Array> {
  let img = sharp(pixels, { raw: { width, height, channels: channels as 1 | 3 } });
  // sharp otherwise stores one-channel input as three equal sRGB channels.
  if (channels === 1) img = img.toColourspace('b-w');
  return img.png().toBuffer();
}

function checkImage(what: string, image: Float32Array, channels: number, height: number, width: number): void {
  if (channels !== 1 && channels !== 3) throw new RangeError(`${what}: channels ${channels} (expected 1 or 3)`);
  if (image.length !== channels * height * width) {
    throw new RangeError(`${what}: ${image.length} values for a ${channels}×${height}×${width} image`);
  }
}

/**
 * Saves a CHW float32 image in [−1, 1] as an 8-bit PNG (greyscale for 1 channel, RGB for 3),
 * quantised by {@link toUint8} so reading it back gives exactly those uint8 values. Written through
 * `<path>.<pid>.tmp` and a rename, creating missing folders, so `path` never holds half a file.
 *
 * @throws ParamError (param `out`) when the file or its folder cannot be written.
 */
export async function writePng(path: string, image: Float32Array, channels: 1 | 3, height: number, width: number): Promise<void> {
  checkImage('writePng', image, channels, height, width);
  writeAtomic(path, await encodePng(toUint8(image, channels), channels, height, width));
}

/** Layout of {@link imageGrid}. */
export interface ImageGridOptions {
  /** White pixels between tiles and around the grid, before scaling (default 2). */
  gap?: number;
  /** Integer nearest-neighbour magnification of every tile, so small (e.g. 32×32) images are visible (default 1). */
  scale?: number;
}

/**
 * Draws `tiles[row][column]` (CHW float32 images in [−1, 1], each `channels` × `height` × `width`)
 * as one PNG: rows top to bottom, columns left to right, every tile magnified `scale` times by pixel
 * repetition and quantised by {@link toUint8}, separated from each other and from the border by
 * `gap` white pixels (like torchvision's make_grid padding). A null tile, and the missing end of a
 * row shorter than the longest, stay white.
 *
 * @returns the PNG file's bytes; the image is cols·(width·scale) + (cols+1)·gap wide and
 *   rows·(height·scale) + (rows+1)·gap high, greyscale for 1 channel, RGB for 3.
 * @throws ParamError (param `gap` or `scale`) on a negative gap or a scale below 1.
 */
export async function imageGrid(tiles: (Float32Array | null)[][], channels: 1 | 3, height: number, width: number, options: ImageGridOptions = {}): Promise<Uint8Array> {
  const gap = checkInt('gap', options.gap ?? 2, 0);
  const scale = checkInt('scale', options.scale ?? 1, 1);
  const rows = tiles.length;
  const cols = Math.max(0, ...tiles.map((r) => r.length));
  if (rows === 0 || cols === 0) throw new RangeError('imageGrid: no tile slots (need at least one row and one column)');
  const tw = width * scale;
  const th = height * scale;
  const gw = cols * tw + (cols + 1) * gap;
  const gh = rows * th + (rows + 1) * gap;
  const canvas = new Uint8Array(gw * gh * channels).fill(255);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < tiles[r].length; c++) {
      const tile = tiles[r][c];
      if (tile === null) continue;
      checkImage(`imageGrid tile [${r}][${c}]`, tile, channels, height, width);
      const px = toUint8(tile, channels);
      const x0 = gap + c * (tw + gap);
      const y0 = gap + r * (th + gap);
      for (let y = 0; y < th; y++) {
        const src = Math.floor(y / scale) * width;
        const dst = ((y0 + y) * gw + x0) * channels;
        for (let x = 0; x < tw; x++) {
          const s = (src + Math.floor(x / scale)) * channels;
          for (let k = 0; k < channels; k++) canvas[dst + x * channels + k] = px[s + k];
        }
      }
    }
  }
  return encodePng(canvas, channels, gh, gw);
}
