import type { TreeBatch } from '../grammar/generate.ts';
import { addSample, emptyMoments } from './moments.ts';
import type { CellStats } from './cell.ts';

/** Accumulates the docs/science.md §4 observables of batches into a {@link CellStats}. */
export class ObservableAccumulator {
  readonly stats: CellStats;
  private readonly tuple: number;
  private readonly symbolsPerLevel: readonly number[];
  private readonly correlations: boolean;

  constructor(
    base: Pick<CellStats, 'grammarSeed' | 'depth' | 'process' | 'noise' | 'control' | 'trajectories'>,
    tuple: number,
    symbolsPerLevel: readonly number[],
    options: { marginals: boolean; correlations: boolean },
  ) {
    const L = base.depth;
    this.tuple = tuple;
    this.symbolsPerLevel = symbolsPerLevel;
    this.correlations = options.correlations && base.trajectories >= 2;
    this.stats = {
      ...base,
      samples: 0,
      classMarginal: emptyMoments(),
      classSampled: emptyMoments(),
      levelMarginal: options.marginals ? Array.from({ length: L + 1 }, emptyMoments) : [],
      levelSampled: Array.from({ length: L + 1 }, emptyMoments),
      chiNumerator: 0,
      chiDenominator: 0,
      ...(this.correlations
        ? {
            correlationByDistance: new Array<number>(tuple ** L).fill(0),
            correlationByTreeDistance: new Array<number>(L + 1).fill(0),
          }
        : {}),
    };
  }

  /**
   * Adds a batch: `truth` holds the clean trees (count data), `samples` the posterior trees
   * (count·K rows, datum-major), `rootPosterior` the class posterior (count·n_c), and, when
   * marginals were computed, `kept`: the per-datum marginal level estimator, count·(L+1),
   * as BP's batch returns it (src/bp/types.ts `BatchResult.levelMarginalKept`).
   */
  add(truth: TreeBatch, samples: TreeBatch, rootPosterior: ArrayLike<number>, kept: ArrayLike<number> | null): void {
    const st = this.stats;
    const K = st.trajectories;
    const L = st.depth;
    const s = this.tuple;
    const nc = this.symbolsPerLevel[0];
    for (let n = 0; n < truth.count; n++) {
      st.samples += 1;
      const c = truth.levels[0][n];
      addSample(st.classMarginal, probability(rootPosterior[n * nc + c]));
      for (let level = 0; level <= L; level++) {
        const width = s ** level;
        const z = truth.levels[level];
        const zs = samples.levels[level];
        let hits = 0;
        for (let t = 0; t < K; t++) {
          const row = (n * K + t) * width;
          for (let i = 0; i < width; i++) if (zs[row + i] === z[n * width + i]) hits++;
        }
        addSample(st.levelSampled[level], hits / (K * width));
        if (level === 0) addSample(st.classSampled, hits / K);
        if (kept) addSample(st.levelMarginal[level], probability(kept[n * (L + 1) + level]));
      }
      if (K >= 2) this.addCorrelations(truth.levels[L], samples.levels[L], n, K);
    }
  }

  /**
   * Spins σ_i = +1 if token i changed in a trajectory, else −1; C_ij = ⟨σ_iσ_j⟩ − ⟨σ_i⟩⟨σ_j⟩ over
   * the K trajectories of one datum (docs/science.md §4). Σ_ij C_ij = ⟨S²⟩ − (Σ_i m_i)² with S = Σ_i σ_i,
   * so χ costs O(d·K); the distance profiles cost O(d²·K) and are computed only when asked.
   */
  private addCorrelations(x0: Int32Array, xs: Int32Array, n: number, K: number): void {
    const st = this.stats;
    const tokens = this.tuple ** st.depth;
    const mag = new Float64Array(tokens);
    let sumS2 = 0;
    for (let t = 0; t < K; t++) {
      const row = (n * K + t) * tokens;
      let S = 0;
      for (let i = 0; i < tokens; i++) {
        const sigma = xs[row + i] !== x0[n * tokens + i] ? 1 : -1;
        mag[i] += sigma;
        S += sigma;
      }
      sumS2 += S * S;
    }
    let sumM = 0;
    let diag = 0;
    for (let i = 0; i < tokens; i++) {
      mag[i] /= K;
      sumM += mag[i];
      diag += 1 - mag[i] * mag[i];
    }
    st.chiNumerator += sumS2 / K - sumM * sumM;
    st.chiDenominator += diag;
    if (!this.correlations || !st.correlationByDistance || !st.correlationByTreeDistance) return;
    const byDistance = new Float64Array(tokens);
    const byTree = new Float64Array(st.depth + 1);
    const treeCount = new Float64Array(st.depth + 1);
    const spins = new Int8Array(K * tokens);
    for (let t = 0; t < K; t++) {
      const row = (n * K + t) * tokens;
      for (let i = 0; i < tokens; i++) spins[t * tokens + i] = xs[row + i] !== x0[n * tokens + i] ? 1 : -1;
    }
    for (let i = 0; i < tokens; i++) {
      for (let j = i; j < tokens; j++) {
        let dot = 0;
        for (let t = 0; t < K; t++) dot += spins[t * tokens + i] * spins[t * tokens + j];
        const cij = dot / K - mag[i] * mag[j];
        byDistance[j - i] += cij;
        let a = i;
        let b = j;
        let h = 0;
        while (a !== b) {
          a = Math.floor(a / this.tuple);
          b = Math.floor(b / this.tuple);
          h++;
        }
        byTree[h] += cij;
        treeCount[h] += 1;
      }
    }
    for (let r = 0; r < tokens; r++) st.correlationByDistance[r] += byDistance[r] / (tokens - r);
    for (let h = 0; h <= st.depth; h++) st.correlationByTreeDistance[h] += treeCount[h] > 0 ? byTree[h] / treeCount[h] : 0;
  }
}

/**
 * A posterior probability as a BP engine computed it, put back in [0, 1]: a normalised float32
 * (or float64 SIMD) message can exceed 1 by round-off (1 + 6e−8 in float32), and the moments of
 * a cell must satisfy 0 ≤ sum ≤ count (summariseCells refuses a cell whose sum exceeds its count).
 */
function probability(x: number): number {
  return x > 1 ? 1 : x < 0 ? 0 : x;
}
