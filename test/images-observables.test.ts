import { describe, expect, it } from 'vitest';
import { createRng } from '../src/core/random.ts';
import { changeCorrelations, patchChanges, pixelChange } from '../src/images/experiment/changeCorrelations.ts';
import { compareLayer, layerLayout, LayerStatsAccumulator } from '../src/images/experiment/layerStats.ts';
import { FLOAT64_EXACT } from './tolerance.ts';

describe('whitening statistics and layer comparison (docs/science.md §6)', () => {
  it('per-channel mean and mean square over images and positions, for channel-major and channel-last layers', () => {
    // Two images, 2 channels, 3 positions, N×C×H×W with H = 1, W = 3.
    const nchw = Float32Array.from([1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60]);
    const acc = new LayerStatsAccumulator('stage1');
    acc.add(nchw, [2, 2, 1, 3]);
    const s = acc.result();
    expect(s.channels).toBe(2);
    expect(s.mean).toEqual([3.5, 35]);
    expect(s.meanSquare[0]).toBeCloseTo((1 + 4 + 9 + 16 + 25 + 36) / 6, 12);
    // The same numbers as N×P×C (tokens, channels last) give the same statistics.
    const npc = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]);
    const acc2 = new LayerStatsAccumulator('tokens');
    acc2.add(npc, [2, 3, 2]);
    expect(acc2.result().mean).toEqual(s.mean);
    expect(acc2.result().meanSquare).toEqual(s.meanSquare);
    expect(layerLayout([4, 7])).toMatchObject({ channels: 7, positions: 1 });
  });

  it('compares whitened activations: cosine, L2 and normalised L2 by hand', () => {
    const stats = { name: 'l', channels: 2, mean: [1, 0], meanSquare: [4 - 1e-8, 1 - 1e-8] };
    // One position, two channels: whitened a = ((3−1)/2, 2/1) = (1, 2); b = ((1−1)/2, 1) = (0, 1).
    const a = Float32Array.from([3, 2]);
    const b = Float32Array.from([1, 1]);
    const c = compareLayer(a, 0, b, 0, [1, 2], stats);
    expect(Math.abs(c.cosine - 2 / Math.sqrt(5))).toBeLessThan(1e-9);
    expect(Math.abs(c.l2 - Math.sqrt(2))).toBeLessThan(1e-9);
    expect(Math.abs(c.l2Normalised - 1)).toBeLessThan(1e-9);
    const same = compareLayer(a, 0, a, 0, [1, 2], stats);
    expect(same.cosine).toBeCloseTo(1, 12);
    expect(same.l2).toBe(0);
    expect(() => compareLayer(a, 0, b, 0, [1, 3], stats)).toThrow(/--stats/);
  });
});

describe('correlated pixel changes', () => {
  /** C_ij straight from the definition, O(n²): the oracle. */
  function bruteForce(changes: Float64Array[], gh: number, gw: number) {
    const K = changes.length;
    const n = gh * gw;
    const C = (i: number, j: number) => {
      let mi = 0,
        mj = 0,
        mij = 0;
      for (const m of changes) {
        mi += m[i] / K;
        mj += m[j] / K;
        mij += (m[i] * m[j]) / K;
      }
      return mij - mi * mj;
    };
    let total = 0,
      diag = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) total += C(i, j);
    for (let i = 0; i < n; i++) diag += C(i, i);
    const R = Math.floor(Math.min(gh, gw) / 2);
    const corr: number[] = [];
    for (let r = 0; r <= R; r++) {
      let s = 0,
        pairs = 0;
      for (let y = 0; y < gh; y++)
        for (let x = 0; x < gw; x++) {
          if (r === 0) {
            s += C(y * gw + x, y * gw + x);
            pairs++;
            continue;
          }
          if (x + r < gw) {
            s += C(y * gw + x, y * gw + x + r);
            pairs++;
          }
          if (y + r < gh) {
            s += C(y * gw + x, (y + r) * gw + x);
            pairs++;
          }
        }
      corr.push(s / pairs);
    }
    return { total, diag, corr };
  }

  it('χ numerator, denominator and C(r) equal the O(n²) definition', () => {
    const rng = createRng(3);
    const gh = 5,
      gw = 6;
    // Correlated changes: a shared blob plus independent noise.
    const changes = Array.from({ length: 7 }, () => {
      const blob = rng.nextFloat();
      return Float64Array.from({ length: gh * gw }, (_, i) => (i % gw < 3 ? blob : 0) + 0.3 * rng.nextFloat());
    });
    const got = changeCorrelations(changes, gh, gw);
    const want = bruteForce(changes, gh, gw);
    expect(Math.abs(got.chiNumerator - want.total)).toBeLessThan(FLOAT64_EXACT * 100);
    expect(Math.abs(got.chiDenominator - want.diag)).toBeLessThan(FLOAT64_EXACT * 100);
    got.correlation.forEach((c, r) => expect(Math.abs(c - want.corr[r])).toBeLessThan(FLOAT64_EXACT * 100));
    // A blob covering half the grid changes together: χ is well above 1.
    expect(got.chiNumerator / got.chiDenominator).toBeGreaterThan(5);
  });

  it('patch and pixel change magnitudes', () => {
    // 1 channel, 3×3 image, patch 2: cells of 4, 2, 2 and 1 pixels.
    const orig = new Float32Array(9);
    const gen = Float32Array.from([1, 1, 0, 1, 1, 0, 0.5, 0.5, -1]);
    expect(Array.from(patchChanges(orig, gen, 1, 3, 3, 2))).toEqual([1, 0, 0.5, 1]);
    expect(pixelChange(orig, gen)).toBeCloseTo(6 / 9, 12);
  });
});
