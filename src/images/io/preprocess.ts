import sharp from 'sharp';
import { checkInt, ParamError } from '../../core/errors.ts';
import { toCHW, type Raw } from './pixels.ts';

export { toUint8 } from './pixels.ts';

/**
 * Preprocessing of the image half: guided-diffusion's dataset transform (decode, box halving,
 * bicubic resize, centre crop, scale to [−1, 1]), its saving rule back to uint8, and the input
 * transforms of the classifiers that score generated images.
 *
 * Resampling runs in libvips (through sharp), not PIL or torchvision, so resized pixels can differ
 * from the Python pipelines by a grey level; the integer steps around it (halving, rounding of new
 * sizes, crop offsets, float32 scaling) follow the Python code exactly.
 */

/** Python 3's round(): halves go to the even neighbour. guided-diffusion and torchvision size with it. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Converts interleaved 8-bit pixels to `out` channels: alpha is dropped (PIL's convert('RGB')
 * drops it too, without compositing), grey is replicated to RGB, and RGB becomes grey by PIL's
 * convert('L') rule (ITU-R 601 luma in 16-bit fixed point, rounded), so equal R, G, B stay exact.
 * Inputs with 1 or 2 channels are grey (+ alpha), with 3 or 4 RGB (+ alpha).
 */
function toChannels(raw: Raw, out: number): Raw {
  const { data, width, height, channels } = raw;
  if (channels === out) return raw;
  const n = width * height;
  const res = new Uint8Array(n * out);
  const grey = channels <= 2;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    if (out === 1) {
      res[i] = grey ? data[s] : (data[s] * 19595 + data[s + 1] * 38470 + data[s + 2] * 7471 + 0x8000) >>> 16;
    } else if (grey) {
      res[3 * i] = res[3 * i + 1] = res[3 * i + 2] = data[s];
    } else {
      res[3 * i] = data[s];
      res[3 * i + 1] = data[s + 1];
      res[3 * i + 2] = data[s + 2];
    }
  }
  return { data: res, width, height, channels: out };
}

/**
 * Halves both sides (floor(w/2) × floor(h/2)), each output pixel the mean of its 2×2 block rounded
 * half up to 8 bits; an odd last row or column is dropped. Done here rather than by a resampler so
 * the step is an exact, documented box average.
 */
function halve(raw: Raw): Raw {
  const { data, width, height, channels: c } = raw;
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const out = new Uint8Array(w * h * c);
  const row = width * c;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = 2 * y * row + 2 * x * c;
      const d = (y * w + x) * c;
      for (let k = 0; k < c; k++) {
        out[d + k] = (data[s + k] + data[s + c + k] + data[s + row + k] + data[s + row + c + k] + 2) >>> 2;
      }
    }
  }
  return { data: out, width: w, height: h, channels: c };
}

/** Resamples to exactly `width` × `height` with a libvips kernel, keeping the channel count. */
async function resize(raw: Raw, width: number, height: number, kernel: 'cubic' | 'linear'): Promise<Raw> {
  if (width === raw.width && height === raw.height) return raw;
  let img = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels as 1 | 3 } }).resize(width, height, { kernel, fit: 'fill' });
  // Without this sharp hands one-channel input back as three equal sRGB channels.
  if (raw.channels === 1) img = img.toColourspace('b-w');
  const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return toChannels({ data, width: info.width, height: info.height, channels: info.channels }, raw.channels);
}

/** Cuts the `width` × `height` window whose top-left corner is (`left`, `top`). */
function crop(raw: Raw, left: number, top: number, width: number, height: number): Raw {
  const c = raw.channels;
  if (left === 0 && top === 0 && width === raw.width && height === raw.height) return raw;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * raw.width + left) * c;
    out.set(raw.data.subarray(s, s + width * c), y * width * c);
  }
  return { data: out, width, height, channels: c };
}

function checkChannels(param: string, channels: number): 1 | 3 {
  if (channels !== 1 && channels !== 3) throw new ParamError(param, `invalid ${param} ${String(channels)} (expected 1 or 3)`);
  return channels;
}

/**
 * Loads an image file the way guided-diffusion's ImageDataset does (`center_crop_arr`, then
 * `arr / 127.5 − 1`): while the short side is at least 2·`size`, halve both sides by a 2×2 box
 * average; resize bicubically (libvips 'cubic', Catmull-Rom like PIL's BICUBIC) to
 * round(w·s) × round(h·s) with s = size / min(w, h) (Python rounding, halves to even), skipped when
 * the size is already right; crop the centre `size` × `size` at offset floor((dim − size) / 2).
 * Pixels are first brought to `channels` (alpha dropped, grey ↔ RGB as PIL converts); EXIF
 * orientation is ignored, as PIL ignores it.
 *
 * @returns CHW float32 of length channels·size·size (channel planes, rows top to bottom), values
 *   in [−1, 1].
 * @throws ParamError (param `images`) when the file cannot be read or decoded; (param `size` or
 *   `channels`) on an invalid size or channel count.
 */
export async function loadForDiffusion(path: string, size: number, channels: 1 | 3): Promise<Float32Array> {
  checkInt('size', size, 1);
  checkChannels('channels', channels);
  let raw: Raw;
  try {
    const { data, info } = await sharp(path).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    raw = { data, width: info.width, height: info.height, channels: info.channels };
  } catch (e) {
    // libvips messages can span lines; the CLI prints ParamErrors as one line.
    const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0].trim();
    throw new ParamError('images', `invalid image "${path}" (cannot decode: ${reason})`);
  }
  raw = toChannels(raw, channels);
  while (Math.min(raw.width, raw.height) >= 2 * size) raw = halve(raw);
  const scale = size / Math.min(raw.width, raw.height);
  raw = await resize(raw, pyRound(raw.width * scale), pyRound(raw.height * scale), 'cubic');
  raw = crop(raw, Math.floor((raw.width - size) / 2), Math.floor((raw.height - size) / 2), size, size);
  return toCHW(raw, 127.5, [1, 1, 1], [1, 1, 1]);
}

export type ClassifierPreset = 'imagenet' | 'identity';

/** Input geometry of a classifier. */
export interface ClassifierTarget {
  /** Side of the square input. */
  size: number;
  /** 'imagenet' only: short side before the centre crop; default round(size·232/224) (torchvision's 224 → 232). */
  resize?: number;
  /** Channels the classifier takes (1 or 3). */
  channels: number;
}

/** torchvision's ImageNet normalisation (RGB order). */
const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * Turns an HWC uint8 image (`channels` 1–4: grey, grey+alpha, RGB, RGBA; alpha dropped, grey ↔ RGB
 * converted to `target.channels` first) into a classifier's input.
 *
 * - 'imagenet' (torchvision's Resize(resize) + CenterCrop(size) + ToTensor + Normalize): resize
 *   bilinearly (libvips 'linear') so the short side is `resize` and the long side
 *   floor(resize·long/short), crop the centre size × size at offset round((dim − size)/2) (Python
 *   rounding), then (x/255 − mean)/std per channel in float32. Needs `target.channels` 3, since the
 *   statistics are RGB ones.
 * - 'identity': resize bilinearly to size × size only when the image is another size, then
 *   x/127.5 − 1 (the diffusion model's own scale).
 *
 * @returns CHW float32 of length target.channels·size·size.
 * @throws ParamError on an invalid channel count (param `channels`), preset (`classifier`), target
 *   size, resize or channel count (`classifier size`, `classifier resize`, `classifier channels`).
 */
export async function classifierInput(image: Uint8Array, width: number, height: number, channels: number, preset: ClassifierPreset, target: ClassifierTarget): Promise<Float32Array> {
  checkInt('channels', channels, 1, 4);
  if (image.length !== width * height * channels) {
    throw new RangeError(`classifierInput: ${image.length} bytes for a ${width}×${height}×${channels} image`);
  }
  const size = checkInt('classifier size', target.size, 1);
  const outChannels = checkChannels('classifier channels', target.channels);
  let raw = toChannels({ data: image, width, height, channels }, outChannels);

  if (preset === 'identity') {
    raw = await resize(raw, size, size, 'linear');
    return toCHW(raw, 127.5, [1, 1, 1], [1, 1, 1]);
  }
  if (preset !== 'imagenet') {
    throw new ParamError('classifier', `invalid classifier preset "${String(preset)}" (expected imagenet or identity)`);
  }
  if (outChannels !== 3) {
    throw new ParamError('classifier channels', `invalid classifier channels 1 for preset imagenet (its normalisation is per RGB channel; expected 3)`);
  }
  const short = checkInt('classifier resize', target.resize ?? Math.round((size * 232) / 224), size);
  // torchvision: the short side becomes `short`, the long side int(short · long / short_before).
  const [w, h] = width <= height ? [short, Math.floor((short * height) / width)] : [Math.floor((short * width) / height), short];
  raw = await resize(raw, w, h, 'linear');
  raw = crop(raw, pyRound((raw.width - size) / 2), pyRound((raw.height - size) / 2), size, size);
  return toCHW(raw, 255, IMAGENET_MEAN, IMAGENET_STD);
}

/**
 * Reads the header of every image (16 at a time), so that a file that is not an image stops a run
 * before anything is written. Throws ParamError (param `images`) naming the first bad file.
 */
export async function checkDecodable(paths: readonly string[]): Promise<void> {
  for (let i = 0; i < paths.length; i += 16) {
    await Promise.all(
      paths.slice(i, i + 16).map(async (path) => {
        try {
          const meta = await sharp(path).metadata();
          if (!meta.width || !meta.height) throw new Error('no size');
        } catch (e) {
          const reason = ((e as Error).message ?? String(e)).split('\n')[0].slice(0, 120);
          throw new ParamError('images', `invalid image "${path}" (cannot decode: ${reason})`);
        }
      }),
    );
  }
}
