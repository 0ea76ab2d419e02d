import { ParamError } from '../../core/errors.ts';

/**
 * How one image's activations of a probed layer are laid out: rank-4 outputs (N×C×H×W) are
 * channel-major, C channels × H·W positions; rank-2 (N×C) is C channels at one position; other ranks
 * (e.g. N×tokens×C) are position-major with the channels on the last axis.
 */
export interface LayerLayout {
  channels: number;
  positions: number;
  channelMajor: boolean;
}

/** The layout of a layer output of shape `shape` (batch axis first). */
export function layerLayout(shape: readonly number[]): LayerLayout {
  if (shape.length === 4) return { channels: shape[1], positions: shape[2] * shape[3], channelMajor: true };
  if (shape.length < 2) return { channels: 1, positions: 1, channelMajor: true };
  const channels = shape[shape.length - 1];
  const positions = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return { channels, positions, channelMajor: false };
}

/**
 * Per-channel statistics of one probed layer over clean images (docs/science.md §6): `mean[c]` and
 * `meanSquare[c]` (M2 = mean of a²) over images and positions. Whitening is (a − μ)/√(M2 + 1e−8).
 */
export interface LayerStats {
  name: string;
  channels: number;
  mean: number[];
  meanSquare: number[];
}

/** The whitening statistics of a classifier: one entry per probed layer, in layer order. */
export interface ClassifierStats {
  format: 'hierdiff.image-stats/1';
  /** Clean images the statistics were computed on. */
  images: number;
  layers: LayerStats[];
}

/** Accumulates {@link LayerStats} batch by batch, in float64. */
export class LayerStatsAccumulator {
  private sum: Float64Array | null = null;
  private sumSquare: Float64Array | null = null;
  private count = 0;
  constructor(readonly name: string) {}

  /** Adds a batch of this layer's output (`shape` with the batch axis first). */
  add(data: Float32Array, shape: readonly number[]): void {
    const { channels, positions, channelMajor } = layerLayout(shape);
    const n = shape[0];
    if (!this.sum) {
      this.sum = new Float64Array(channels);
      this.sumSquare = new Float64Array(channels);
    } else if (this.sum.length !== channels) {
      throw new ParamError('classifier', `invalid classifier: layer ${this.name} has ${channels} channels, earlier ${this.sum.length}`);
    }
    const sum = this.sum;
    const sq = this.sumSquare!;
    const per = channels * positions;
    for (let b = 0; b < n; b++) {
      const base = b * per;
      for (let c = 0; c < channels; c++) {
        let s = 0;
        let q = 0;
        for (let p = 0; p < positions; p++) {
          const v = data[base + (channelMajor ? c * positions + p : p * channels + c)];
          s += v;
          q += v * v;
        }
        sum[c] += s;
        sq[c] += q;
      }
    }
    this.count += n * positions;
  }

  result(): LayerStats {
    const sum = this.sum ?? new Float64Array(0);
    const sq = this.sumSquare ?? new Float64Array(0);
    return { name: this.name, channels: sum.length, mean: Array.from(sum, (s) => s / this.count), meanSquare: Array.from(sq, (q) => q / this.count) };
  }
}

/** Similarity of one image's whitened activations before and after the round trip. */
export interface LayerChange {
  /** Cosine similarity of the whitened activation vectors (1 = same direction). */
  cosine: number;
  /** L2 distance of the whitened activations. */
  l2: number;
  /** L2 distance divided by √(number of activations): whitened channels have mean square ≈ 1 on clean images, so this is a relative change (0 = identical). */
  l2Normalised: number;
}

/**
 * Compares image `i` of two batches of one layer's output (`a`: originals, `b`: generated, both of
 * shape `shape`, batch first; `ia`, `ib` their indices in the batches) after whitening with `stats`.
 */
export function compareLayer(a: Float32Array, ia: number, b: Float32Array, ib: number, shape: readonly number[], stats: LayerStats): LayerChange {
  const { channels, positions, channelMajor } = layerLayout(shape);
  if (stats.channels !== channels) throw new ParamError('stats', `invalid --stats: layer ${stats.name} has ${stats.channels} channels, the classifier gives ${channels}`);
  const per = channels * positions;
  const baseA = ia * per;
  const baseB = ib * per;
  let dot = 0;
  let na = 0;
  let nb = 0;
  let diff = 0;
  for (let c = 0; c < channels; c++) {
    const mu = stats.mean[c];
    const scale = 1 / Math.sqrt(stats.meanSquare[c] + 1e-8);
    for (let p = 0; p < positions; p++) {
      const off = channelMajor ? c * positions + p : p * channels + c;
      const x = (a[baseA + off] - mu) * scale;
      const y = (b[baseB + off] - mu) * scale;
      dot += x * y;
      na += x * x;
      nb += y * y;
      diff += (x - y) * (x - y);
    }
  }
  const l2 = Math.sqrt(diff);
  const norms = Math.sqrt(na * nb);
  return { cosine: norms > 0 ? dot / norms : na === nb ? 1 : 0, l2, l2Normalised: l2 / Math.sqrt(per) };
}
