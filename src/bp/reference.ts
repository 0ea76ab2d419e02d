import type { Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { TreeBatch } from '../grammar/generate.ts';
import { symbolsAt } from '../grammar/params.ts';
import { batchFromSweeps } from './batch.ts';
import { deficitLimit, drawIndexWith, logOfLinear, logUpwardDatum, overwriteLogDomainMarginals, precisionDeficit, resampleLogDomain } from './logDomain.ts';
import { checkLogLambda, checkSampleInputs, checkUpwardInputs, checkUpwardMessages, type BpBackend, type FloatArray, type Marginals, type UpwardMessages } from './types.ts';

/**
 * Upward sweep (docs/science.md §2): ν↑_L = λ normalised; for a parent of level ℓ,
 * u(a) = (1/m)·Σ_k Π_j ν↑_{ℓ+1}(child j, rule[ℓ][a][k][j]), normalised per node. The log of every
 * normaliser, plus the root prior log(1/n_c), sums to the log-evidence. Per datum, the largest
 * precision deficit of each level's normalisers is summed (src/bp/logDomain.ts); a datum past
 * the limit (or with a zero normaliser) is redone in the log domain, from `logLambda` when given,
 * and only there can it turn out to be inconsistent with the grammar.
 */
export function upwardReference(g: Grammar, lambda: FloatArray, count: number, logLambda?: Float64Array): UpwardMessages {
  checkUpwardInputs(g, lambda, count);
  checkLogLambda(lambda, logLambda);
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const logEvidence = new Float64Array(count).fill(-Math.log(g.classes));
  const messages: Float64Array[] = new Array(L + 1);
  const d = s ** L;
  const deficit = new Int32Array(count);
  const levelMax = new Int32Array(count);
  const leaves = Float64Array.from(lambda.subarray(0, count * d * v));
  for (let n = 0; n < count; n++) {
    let worst = 0;
    for (let i = 0; i < d; i++) {
      const o = (n * d + i) * v;
      let z = 0;
      for (let b = 0; b < v; b++) z += leaves[o + b];
      worst = Math.max(worst, precisionDeficit(z));
      for (let b = 0; b < v; b++) leaves[o + b] /= z;
      logEvidence[n] += Math.log(z);
    }
    deficit[n] += worst;
  }
  messages[L] = leaves;
  for (let level = L - 1; level >= 0; level--) {
    const width = s ** level;
    const symbols = symbolsAt(g, level);
    const below = messages[level + 1];
    const rules = g.rules[level];
    const here = new Float64Array(count * width * symbols);
    levelMax.fill(0);
    for (let n = 0; n < count; n++) {
      for (let i = 0; i < width; i++) {
        const childBase = (n * width + i) * s; // first child's node index in the level below
        const o = (n * width + i) * symbols;
        let z = 0;
        for (let a = 0; a < symbols; a++) {
          let sum = 0;
          for (let k = 0; k < m; k++) {
            let w = 1;
            for (let j = 0; j < s; j++) w *= below[(childBase + j) * v + rules[(a * m + k) * s + j]];
            sum += w;
          }
          here[o + a] = sum / m;
          z += sum / m;
        }
        // The kernels' normaliser has no 1/m: the same deficit from the same scale.
        levelMax[n] = Math.max(levelMax[n], precisionDeficit(z * m));
        for (let a = 0; a < symbols; a++) here[o + a] /= z;
        logEvidence[n] += Math.log(z);
      }
    }
    for (let n = 0; n < count; n++) deficit[n] += levelMax[n];
    messages[level] = here;
  }
  const limit = deficitLimit(g, 'f64');
  const logDomain = new Map<number, Float64Array[]>();
  for (let n = 0; n < count; n++) {
    if (deficit[n] <= limit) continue;
    const stride = d * v;
    const r = logLambda ? logUpwardDatum(g, logLambda, n * stride, n) : logUpwardDatum(g, logOfLinear(lambda, n * stride, (n + 1) * stride), 0, n);
    logEvidence[n] = r.logEvidence;
    for (let level = 0; level <= L; level++) {
      const size = s ** level * symbolsAt(g, level);
      const src = r.logMessages[level];
      const dst = messages[level];
      for (let i = 0; i < size; i++) dst[n * size + i] = Math.exp(src[i]);
    }
    logDomain.set(n, r.logMessages);
  }
  return logDomain.size > 0 ? { count, messages, logEvidence, logDomain } : { count, messages, logEvidence };
}

/**
 * Downward sweep and marginals (docs/science.md §2): ν↓_0 uniform; for child j of a parent,
 * ν↓(child, b) ∝ Σ_{a,k: rule[a][k][j] = b} ν↓(parent, a)·Π_{j'≠j} ν↑(child j', rule[a][k][j']);
 * μ ∝ ν↑·ν↓.
 */
export function marginalsReference(g: Grammar, up: UpwardMessages): Marginals {
  checkUpwardMessages(g, up);
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const { count } = up;
  const marginals: Float64Array[] = new Array(L + 1);
  // Root: uniform prior, so μ_0 = ν↑_0 (already normalised).
  let down = new Float64Array(count * g.classes).fill(1 / g.classes);
  marginals[0] = Float64Array.from(up.messages[0]);
  const values = new Float64Array(s);
  const prefix = new Float64Array(s + 1);
  const suffix = new Float64Array(s + 1);
  for (let level = 0; level < L; level++) {
    const width = s ** level;
    const symbols = symbolsAt(g, level);
    const below = up.messages[level + 1];
    const rules = g.rules[level];
    const childDown = new Float64Array(count * width * s * v);
    for (let p = 0; p < count * width; p++) {
      const childBase = p * s;
      for (let a = 0; a < symbols; a++) {
        const w = down[p * symbols + a];
        if (w === 0) continue;
        for (let k = 0; k < m; k++) {
          const r = (a * m + k) * s;
          for (let j = 0; j < s; j++) values[j] = below[(childBase + j) * v + rules[r + j]];
          // Products of the other children's messages without division (messages may be 0).
          prefix[0] = 1;
          suffix[s] = 1;
          for (let j = 0; j < s; j++) prefix[j + 1] = prefix[j] * values[j];
          for (let j = s - 1; j >= 0; j--) suffix[j] = suffix[j + 1] * values[j];
          for (let j = 0; j < s; j++) childDown[(childBase + j) * v + rules[r + j]] += w * prefix[j] * suffix[j + 1];
        }
      }
    }
    const mu = new Float64Array(count * width * s * v);
    for (let c = 0; c < count * width * s; c++) {
      let zd = 0;
      let zm = 0;
      for (let b = 0; b < v; b++) {
        zd += childDown[c * v + b];
        mu[c * v + b] = childDown[c * v + b] * below[c * v + b];
        zm += mu[c * v + b];
      }
      for (let b = 0; b < v; b++) {
        childDown[c * v + b] /= zd;
        mu[c * v + b] /= zm;
      }
    }
    marginals[level + 1] = mu;
    down = childDown;
  }
  overwriteLogDomainMarginals(g, up, marginals);
  return marginals;
}

/**
 * Exact posterior sampling (docs/science.md §2): root from μ_0, then each node with symbol a picks rule k
 * with probability ∝ W(i, a, k) = Π_j ν↑(child j, rule[a][k][j]) and writes its tuple.
 */
export function sampleReference(g: Grammar, up: UpwardMessages, rng: Rng, trajectories: number): TreeBatch {
  checkSampleInputs(g, up, trajectories);
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const total = up.count * trajectories;
  // Every uniform drawn first, in the order the draws use them (roots of every trajectory, then
  // level by level, trajectory by trajectory, node by node), so log-domain data use the same ones.
  const start = [total];
  for (let level = 1; level < L; level++) start.push(start[level - 1] + total * s ** (level - 1));
  const uniforms = new Float64Array(L > 0 ? start[L - 1] + total * s ** (L - 1) : total);
  for (let i = 0; i < uniforms.length; i++) uniforms[i] = rng.nextFloat();
  const levels: Int32Array[] = [new Int32Array(total)];
  const root = up.messages[0];
  for (let n = 0; n < up.count; n++) {
    for (let t = 0; t < trajectories; t++) levels[0][n * trajectories + t] = drawIndexWith(root, n * g.classes, g.classes, 1, uniforms[n * trajectories + t]);
  }
  const weights = new Float64Array(m);
  for (let level = 0; level < L; level++) {
    const width = s ** level;
    const below = up.messages[level + 1];
    const rules = g.rules[level];
    const parents = levels[level];
    const children = new Int32Array(total * width * s);
    for (let n = 0; n < up.count; n++) {
      for (let t = 0; t < trajectories; t++) {
        const row = n * trajectories + t;
        for (let i = 0; i < width; i++) {
          const a = parents[row * width + i];
          const childBase = (n * width + i) * s; // message index: messages are per datum, not per trajectory
          let sum = 0;
          for (let k = 0; k < m; k++) {
            let w = 1;
            for (let j = 0; j < s; j++) w *= below[(childBase + j) * v + rules[(a * m + k) * s + j]];
            weights[k] = w;
            sum += w;
          }
          const k = drawIndexWith(weights, 0, m, sum, uniforms[start[level] + row * width + i]);
          for (let j = 0; j < s; j++) children[(row * width + i) * s + j] = rules[(a * m + k) * s + j];
        }
      }
    }
    levels.push(children);
  }
  if (up.logDomain) resampleLogDomain(g, up.logDomain, trajectories, levels, (level, row, node) => uniforms[level < 0 ? row : start[level] + row * s ** level + node]);
  return { count: total, levels };
}

const sweeps = { upward: upwardReference, marginals: marginalsReference, sample: sampleReference };

/** The readable float64 reference implementation of exact BP. */
export const referenceBackend: BpBackend = {
  name: 'reference',
  ...sweeps,
  batch: (g, request) => batchFromSweeps(sweeps, g, request),
};
