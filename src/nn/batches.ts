import { createRng, type Rng } from '../core/random.ts';

/**
 * Per-epoch shuffles of 0 … count − 1 (epoch e: Fisher–Yates with createRng(seed, 2, e)), read as
 * one stream, like a shuffling data loader: every datum is seen once per epoch and a batch may
 * straddle two epochs. A function of the position only, so a resumed run draws what an
 * uninterrupted one would.
 */
export class EpochBatches {
  private epoch = -1;
  private perm = new Int32Array(0);

  constructor(
    private readonly count: number,
    private readonly seed: number,
  ) {}

  /** Entries first … first + size − 1 of the concatenated epochs. */
  indices(first: number, size: number): Int32Array {
    const out = new Int32Array(size);
    for (let j = 0; j < size; j++) {
      const pos = first + j;
      const e = Math.floor(pos / this.count);
      if (e !== this.epoch) this.shuffle(e);
      out[j] = this.perm[pos - e * this.count];
    }
    return out;
  }

  private shuffle(e: number): void {
    const rng: Rng = createRng(this.seed, 2, e);
    const p = Int32Array.from({ length: this.count }, (_, i) => i);
    for (let i = this.count - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      const tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
    }
    this.perm = p;
    this.epoch = e;
  }
}
