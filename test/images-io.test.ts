import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { listImages } from '../src/images/io/listImages.ts';
import { classifierInput, loadForDiffusion, toUint8 } from '../src/images/io/preprocess.ts';
import { imageGrid, writePng } from '../src/images/io/writeImages.ts';
import { paramErrorAsync as paramError } from './helpers/errors.ts';
import { tempDir } from './helpers/tempDir.ts';

const root = tempDir('hierdiff-images-io-');

/** HWC uint8 pixels with value f(x, y, k). */
function pixels(width: number, height: number, channels: number, f: (x: number, y: number, k: number) => number): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let k = 0; k < channels; k++) out[(y * width + x) * channels + k] = f(x, y, k);
  return out;
}

/** Writes pixels as PNG or (quality 100) JPEG, chosen by extension; one channel is stored as greyscale. */
async function saveImage(path: string, data: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  let img = sharp(data, { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace('b-w');
  img = /\.jpe?g$/i.test(path) ? img.jpeg({ quality: 100 }) : img.png();
  await img.toFile(path);
}

async function readRaw(path: string | Uint8Array): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** A fixed pseudo-random byte stream (LCG), so the tests need no seedable library. */
function bytes(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
}

const f32 = Math.fround;
/** guided-diffusion's scaling of a uint8 value in float32. */
const unit = (v: number): number => f32(f32(v / 127.5) - 1);

describe('listImages', () => {
  let dir: string;
  const tiny = pixels(2, 2, 3, () => 128);

  beforeAll(async () => {
    dir = join(root, 'listing');
    for (const name of ['0/x.png', '0/y.jpg', '0/z.PNG', '1/w.jpeg', 'C.png', 'a.PNG', 'b.png', 'n01440764_10026.JPEG', '1/deep/q.png', '.hidden.png', '0/._x.png']) {
      await saveImage(join(dir, name), tiny, 2, 2, 3);
    }
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    writeFileSync(join(dir, '0', 'readme.md'), 'not an image');
  });

  it('lists images at the top level and one level down, in code-unit order, with ImageFolder and ImageNet labels', () => {
    const entries = listImages(dir, {});
    expect(entries.map((e) => e.name)).toEqual(['0/x.png', '0/y.jpg', '0/z.PNG', '1/w.jpeg', 'C.png', 'a.PNG', 'b.png', 'n01440764_10026.JPEG']);
    expect(entries[0].path).toBe(join(dir, '0', 'x.png'));
    expect(entries.map((e) => e.label)).toEqual(['0', '0', '0', '1', null, null, null, 'n01440764']);
    // Integer folder names are their own class index; a lone wnid has no known index.
    expect(entries.map((e) => e.labelIndex)).toEqual([0, 0, 0, 1, null, null, null, null]);
  });

  it('perClass keeps the first N of each label in name order, unlabelled images counting as one class', () => {
    expect(listImages(dir, { perClass: 1 }).map((e) => e.name)).toEqual(['0/x.png', '1/w.jpeg', 'C.png', 'n01440764_10026.JPEG']);
  });

  it('perClass larger than a class is refused, naming the class (no silently unbalanced run)', async () => {
    // Class "1" and the lone wnid have one image each.
    for (const perClass of [2, 100]) {
      const e = await paramError(() => listImages(dir, { perClass }));
      expect(e.param).toBe('per-class');
      expect(e.message).toMatch(new RegExp(`^invalid --per-class ${perClass} \\(class "1" of --images .* has only 1 image\\)$`));
    }
  });

  it('a class index file maps labels to their 0-based line, and a label it lacks is an error naming both', async () => {
    const file = join(root, 'classes.txt');
    writeFileSync(file, 'n01440764\r\n\r\n1\n0\n');
    const entries = listImages(dir, { classIndexFile: file });
    expect(entries.map((e) => e.labelIndex)).toEqual([3, 3, 3, 2, null, null, null, 0]);

    const partial = join(root, 'partial.txt');
    writeFileSync(partial, '0\n1\n');
    const e = await paramError(() => listImages(dir, { classIndexFile: partial }));
    expect(e.param).toBe('images');
    expect(e.message).toContain(partial);
    expect(e.message).toContain('"n01440764"');

    const missing = await paramError(() => listImages(dir, { classIndexFile: join(root, 'none.txt') }));
    expect(missing.message).toContain('none.txt');
  });

  it('exactly 1000 distinct wnids are indexed in sorted order (ImageNet class order), fewer are not', () => {
    const big = join(root, 'imagenet');
    mkdirSync(big);
    // Created in scrambled order; the files need not decode, listing never opens them.
    const wnids = Array.from({ length: 1000 }, (_, i) => `n${String(1_000_000 + ((i * 7919) % 1000) * 37).padStart(8, '0')}`);
    for (const w of wnids) writeFileSync(join(big, `${w}_1.JPEG`), '');
    const sorted = [...wnids].sort();
    const entries = listImages(big, {});
    expect(entries).toHaveLength(1000);
    for (const e of entries) expect(e.labelIndex).toBe(sorted.indexOf(e.label!));
    expect(entries[0].labelIndex).toBe(0);
    expect(entries[999].labelIndex).toBe(999);

    rmSync(join(big, `${sorted[500]}_1.JPEG`));
    expect(listImages(big, {}).every((e) => e.labelIndex === null)).toBe(true);
  });

  it('rejects a missing folder, a file, an imageless folder and a bad perClass with one-line ParamErrors', async () => {
    const missing = await paramError(() => listImages(join(root, 'nope'), {}));
    expect(missing.param).toBe('images');
    expect(missing.message).toContain('nope');
    expect(missing.message).toContain('not found');

    const notFolder = await paramError(() => listImages(join(dir, 'notes.txt'), {}));
    expect(notFolder.message).toContain('not a folder');

    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    writeFileSync(join(empty, 'a.txt'), '');
    const none = await paramError(() => listImages(empty, {}));
    expect(none.param).toBe('images');
    for (const ext of ['.png', '.jpg', '.jpeg']) expect(none.message).toContain(ext);

    for (const perClass of [0, -1, 1.5, Number.NaN]) {
      const e = await paramError(() => listImages(dir, { perClass }));
      expect(e.param).toBe('images');
    }
  });
});

describe('loadForDiffusion', () => {
  it('halves 64×40 once to 32×20, resizes to 26×16 and crops the centre: constant colour stays exact', async () => {
    const path = join(root, 'diffusion', 'const.png');
    const colour = [10, 100, 250];
    await saveImage(
      path,
      pixels(64, 40, 3, (_x, _y, k) => colour[k]),
      64,
      40,
      3,
    );
    const out = await loadForDiffusion(path, 16, 3);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out).toHaveLength(3 * 16 * 16);
    for (let k = 0; k < 3; k++) for (let i = 0; i < 256; i++) expect(out[k * 256 + i]).toBe(unit(colour[k]));

    // Greyscale by PIL's convert('L') rule: (r·19595 + g·38470 + b·7471 + 2^15) >> 16.
    const grey = await loadForDiffusion(path, 16, 1);
    expect(grey).toHaveLength(256);
    const l = (10 * 19595 + 100 * 38470 + 250 * 7471 + 0x8000) >> 16;
    expect(new Set(grey)).toEqual(new Set([unit(l)]));
  });

  it('crops at floor((26 − 16)/2) = 5: a 64×40 two-colour image splits between output columns 7 and 8', async () => {
    const path = join(root, 'diffusion', 'halves.png');
    await saveImage(
      path,
      pixels(64, 40, 1, (x) => (x < 32 ? 20 : 220)),
      64,
      40,
      1,
    );
    const out = await loadForDiffusion(path, 16, 1);
    // After halving the edge is at column 16 of 32; resized to 26 wide it is at 13, i.e. 8 after the crop.
    for (let y = 0; y < 16; y++) {
      const row = Array.from(out.subarray(y * 16, y * 16 + 16));
      for (let x = 0; x <= 4; x++) expect(row[x]).toBe(unit(20));
      for (let x = 11; x < 16; x++) expect(row[x]).toBe(unit(220));
      expect(row[7]).toBeLessThan(0);
      expect(row[8]).toBeGreaterThan(0);
    }
  });

  it('upsamples a small image (10×20 → 16×32, cropped rows 8..23); grey input becomes three equal channels', async () => {
    const path = join(root, 'diffusion', 'small.png');
    await saveImage(
      path,
      pixels(10, 20, 1, () => 77),
      10,
      20,
      1,
    );
    const out = await loadForDiffusion(path, 16, 3);
    expect(out).toHaveLength(3 * 256);
    expect(new Set(out)).toEqual(new Set([unit(77)]));
  });

  it('is the exact 2×2 box average when no resize follows (32×32 → 16×16), for RGB and grey', async () => {
    for (const channels of [3, 1] as const) {
      const next = bytes(channels);
      const src = pixels(32, 32, channels, () => next());
      const path = join(root, 'diffusion', `box${channels}.png`);
      await saveImage(path, src, 32, 32, channels);
      const out = await loadForDiffusion(path, 16, channels);
      for (let k = 0; k < channels; k++) {
        for (let y = 0; y < 16; y++) {
          for (let x = 0; x < 16; x++) {
            const at = (xx: number, yy: number): number => src[(yy * 32 + xx) * channels + k];
            const mean = (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1)) / 4;
            const got = out[k * 256 + y * 16 + x];
            // Only the rounding of the mean to 8 bits separates them.
            expect(Math.abs(got - (mean / 127.5 - 1))).toBeLessThanOrEqual(0.5 / 127.5 + 1e-6);
            expect(got).toBe(unit(Math.floor(mean + 0.5)));
          }
        }
      }
    }
  });

  it('reads JPEG (ImageNet-style name) and halves twice when the short side allows (96×80 → 24×20 at size 16)', async () => {
    const path = join(root, 'diffusion', 'n01440764_10026.JPEG');
    await saveImage(
      path,
      pixels(96, 80, 3, () => 128),
      96,
      80,
      3,
    );
    const out = await loadForDiffusion(path, 16, 3);
    expect(out).toHaveLength(3 * 256);
    for (const v of out) expect(Math.abs(v - unit(128))).toBeLessThanOrEqual(2 / 127.5);
  });

  it('an undecodable file is a one-line ParamError naming the file', async () => {
    const path = join(root, 'diffusion', 'broken.png');
    writeFileSync(path, 'this is not a PNG\nsecond line');
    const e = await paramError(() => loadForDiffusion(path, 16, 3));
    expect(e.param).toBe('images');
    expect(e.message).toMatch(/^invalid image ".*broken\.png" \(cannot decode: .+\)$/);

    const gone = await paramError(() => loadForDiffusion(join(root, 'diffusion', 'gone.png'), 16, 3));
    expect(gone.message).toContain('gone.png');
  });
});

describe('toUint8', () => {
  it('applies (x + 1)·127.5, clamped and truncated (torch .to(uint8)), and reorders CHW to HWC', () => {
    // Two pixels, three channels: planes R = [−1, 1], G = [0, −1.5], B = [2, NaN].
    const x = new Float32Array([-1, 1, 0, -1.5, 2, Number.NaN]);
    expect(Array.from(toUint8(x, 3))).toEqual([0, 127, 255, 255, 0, 0]);
    const near = new Float32Array([0.6 / 127.5 - 1, 0.4 / 127.5 - 1, 254.4 / 127.5 - 1, 254.6 / 127.5 - 1, 1.0001]);
    expect(Array.from(toUint8(near, 1))).toEqual([0, 0, 254, 254, 255]);
    // Every uint8 value survives the float32 scaling of loadForDiffusion.
    const all = new Float32Array(256).map((_, v) => unit(v));
    expect(Array.from(toUint8(all, 1))).toEqual(Array.from({ length: 256 }, (_, v) => v));
  });
});

describe('writePng and imageGrid', () => {
  /** CHW float32 image whose uint8 values are the HWC `px`. */
  function chw(px: Uint8Array, channels: number): Float32Array {
    const plane = px.length / channels;
    const out = new Float32Array(px.length);
    for (let k = 0; k < channels; k++) for (let i = 0; i < plane; i++) out[k * plane + i] = unit(px[i * channels + k]);
    return out;
  }

  it('writePng round-trips the uint8 values, creates folders and leaves no temporary file', async () => {
    for (const channels of [3, 1] as const) {
      const next = bytes(10 + channels);
      const px = pixels(7, 5, channels, () => next());
      const folder = join(root, 'written', `c${channels}`, 'deep');
      const path = join(folder, 'img.png');
      await writePng(path, chw(px, channels), channels, 5, 7);
      const back = await sharp(path).raw().toBuffer({ resolveWithObject: true });
      expect((await sharp(path).metadata()).channels).toBe(channels);
      expect([back.info.width, back.info.height]).toEqual([7, 5]);
      // sharp decodes greyscale PNGs as sRGB; its channels are then equal.
      const got = channels === 1 ? back.data.filter((_, i) => i % back.info.channels === 0) : back.data;
      expect(Array.from(got)).toEqual(Array.from(px));
      expect(readdirSync(folder)).toEqual(['img.png']);
    }
  });

  it('imageGrid lays tiles out with white gaps, blank nulls and nearest-neighbour scaling', async () => {
    const next = bytes(99);
    const a = pixels(4, 3, 3, () => next());
    const b = pixels(4, 3, 3, () => next());
    const png = await imageGrid([[chw(a, 3), null], [chw(b, 3)]], 3, 3, 4, { gap: 2, scale: 2 });
    const img = await readRaw(png);
    // 2 columns of 8 px and 3 gaps; 2 rows of 6 px and 3 gaps.
    expect([img.width, img.height, img.channels]).toEqual([2 * 8 + 3 * 2, 2 * 6 + 3 * 2, 3]);
    const at = (x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    const tilePx = (t: Uint8Array, x: number, y: number): number[] => Array.from(t.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3));
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const col = x < 10 ? 0 : 1;
        const row = y < 8 ? 0 : 1;
        const tx = x - 2 - col * 10;
        const ty = y - 2 - row * 8;
        const inTile = tx >= 0 && tx < 8 && ty >= 0 && ty < 6;
        const tile = !inTile || col === 1 ? null : row === 0 ? a : b;
        expect(at(x, y)).toEqual(tile === null ? [255, 255, 255] : tilePx(tile, tx >> 1, ty >> 1));
      }
    }

    const grey = await readRaw(
      await imageGrid(
        [
          [
            chw(
              pixels(2, 2, 1, () => 0),
              1,
            ),
          ],
        ],
        1,
        2,
        2,
        { gap: 1 },
      ),
    );
    expect([grey.width, grey.height]).toEqual([4, 4]);
    await expect(imageGrid([[null]], 3, 2, 2, { scale: 0 })).rejects.toBeInstanceOf(ParamError);
  });
});

describe('classifierInput', () => {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  /** torchvision's ToTensor + Normalize on one value, in float32. */
  const normalised = (c: number, k: number): number => f32(f32(f32(c / 255) - f32(mean[k])) / f32(std[k]));

  it("'imagenet' on a constant image gives ((c/255) − mean)/std per channel, size × size", async () => {
    const colour = [30, 140, 230];
    const out = await classifierInput(
      pixels(40, 30, 3, (_x, _y, k) => colour[k]),
      40,
      30,
      3,
      'imagenet',
      { size: 16, channels: 3 },
    );
    expect(out).toHaveLength(3 * 256);
    for (let k = 0; k < 3; k++) for (let i = 0; i < 256; i++) expect(out[k * 256 + i]).toBe(normalised(colour[k], k));
    expect(out[0]).toBeCloseTo((30 / 255 - 0.485) / 0.229, 6);

    // Grey input is replicated to RGB, then normalised per channel.
    const grey = await classifierInput(
      pixels(20, 20, 1, () => 90),
      20,
      20,
      1,
      'imagenet',
      { size: 8, resize: 10, channels: 3 },
    );
    for (let k = 0; k < 3; k++) for (let i = 0; i < 64; i++) expect(grey[k * 64 + i]).toBe(normalised(90, k));
  });

  it("'imagenet' crops the centre after the short-side resize (no resampling when sizes already match)", async () => {
    const next = bytes(5);
    const px = pixels(12, 10, 3, () => next());
    // Short side already 10 = resize: only the crop of 8 × 8 at round(4/2) = 2, round(2/2) = 1 applies.
    const out = await classifierInput(px, 12, 10, 3, 'imagenet', { size: 8, resize: 10, channels: 3 });
    for (let k = 0; k < 3; k++) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(out[k * 64 + y * 8 + x]).toBe(normalised(px[((y + 1) * 12 + x + 2) * 3 + k], k));
    }
    await expect(classifierInput(px, 12, 10, 3, 'imagenet', { size: 8, channels: 1 })).rejects.toBeInstanceOf(ParamError);
  });

  it("'identity' scales to [−1, 1], resizing only when needed, and converts RGB to grey", async () => {
    const next = bytes(6);
    const px = pixels(8, 8, 3, () => next());
    const same = await classifierInput(px, 8, 8, 3, 'identity', { size: 8, channels: 3 });
    for (let k = 0; k < 3; k++) for (let i = 0; i < 64; i++) expect(same[k * 64 + i]).toBe(unit(px[i * 3 + k]));

    const resized = await classifierInput(
      pixels(20, 12, 3, () => 200),
      20,
      12,
      3,
      'identity',
      { size: 8, channels: 3 },
    );
    expect(new Set(resized)).toEqual(new Set([unit(200)]));

    const grey = await classifierInput(
      pixels(8, 8, 3, (_x, _y, k) => [10, 100, 250][k]),
      8,
      8,
      3,
      'identity',
      { size: 8, channels: 1 },
    );
    expect(new Set(grey)).toEqual(new Set([unit((10 * 19595 + 100 * 38470 + 250 * 7471 + 0x8000) >> 16)]));
  });
});
