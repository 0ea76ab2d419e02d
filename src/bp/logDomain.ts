import { InconsistentEvidenceError } from '../core/errors.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { symbolsAt } from '../grammar/params.ts';
import type { FloatArray, UpwardMessages } from './types.ts';

/**
 * Exact BP of one datum in the log domain (docs/science.md §2), for the data whose evidence the
 * linear float passes cannot represent: soft evidence whose likelihood ratios underflow (Gaussian
 * noise at small t/T, ε-process or uniform noise at tiny ε, float32 kernels). Every message is a
 * log-probability normalised per node (log Σ_a exp = 0), so no product or sum can underflow to an
 * exact zero that is not one; a node whose every symbol has log-weight −∞ is real impossibility
 * (hard evidence that no tree explains) and raises InconsistentEvidenceError.
 *
 * The linear passes (reference and fast kernels) stay the fast path; they measure, per datum, how
 * close their normalisers came to the float's underflow ({@link precisionDeficit}) and hand the
 * data past {@link deficitLimit} to the functions here.
 */

/** A datum's upward pass in the log domain: log ν↑ per level ([node·N_ℓ + a]) and log p(evidence). */
export interface LogUpward {
  readonly logMessages: Float64Array[];
  readonly logEvidence: number;
}

/** log(e^a + e^b) without overflow or NaN on −∞. */
function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** Normalises x[o .. o+n) in place in the log domain and returns the log of the normaliser (−∞ if all are −∞). */
function logNormalise(x: Float64Array, o: number, n: number): number {
  let max = -Infinity;
  for (let a = 0; a < n; a++) if (x[o + a] > max) max = x[o + a];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let a = 0; a < n; a++) sum += Math.exp(x[o + a] - max);
  const lz = max + Math.log(sum);
  for (let a = 0; a < n; a++) x[o + a] -= lz;
  return lz;
}

/**
 * Upward pass of one datum from its leaf log-likelihoods `logLambda[offset .. offset + d·v)`
 * (token-major; entries in [−∞, ∞), NaN not allowed). Each leaf is log-scaled (its maximum
 * subtracted before exponentiating) and the subtracted constants are carried into the
 * log-evidence, which is log Σ_trees P(tree)·Π_i λ_i(x_i) for the likelihoods exp(logLambda).
 * `datum` only labels an InconsistentEvidenceError.
 */
export function logUpwardDatum(g: Grammar, logLambda: ArrayLike<number>, offset: number, datum: number): LogUpward {
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const d = s ** L;
  let logEvidence = -Math.log(g.classes);
  const messages: Float64Array[] = new Array(L + 1);
  const leaves = new Float64Array(d * v);
  for (let i = 0; i < d * v; i++) leaves[i] = logLambda[offset + i];
  for (let i = 0; i < d; i++) {
    const lz = logNormalise(leaves, i * v, v);
    if (lz === -Infinity) throw new InconsistentEvidenceError(datum, L, i);
    logEvidence += lz;
  }
  messages[L] = leaves;
  const logM = Math.log(m);
  const terms = new Float64Array(m);
  for (let level = L - 1; level >= 0; level--) {
    const width = s ** level;
    const symbols = symbolsAt(g, level);
    const below = messages[level + 1];
    const rules = g.rules[level];
    const here = new Float64Array(width * symbols);
    for (let i = 0; i < width; i++) {
      const cb = i * s;
      const o = i * symbols;
      for (let a = 0; a < symbols; a++) {
        let tmax = -Infinity;
        for (let k = 0; k < m; k++) {
          let t = 0;
          for (let j = 0; j < s; j++) t += below[(cb + j) * v + rules[(a * m + k) * s + j]];
          terms[k] = t;
          if (t > tmax) tmax = t;
        }
        if (tmax === -Infinity) {
          here[o + a] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let k = 0; k < m; k++) sum += Math.exp(terms[k] - tmax);
        here[o + a] = tmax + Math.log(sum) - logM;
      }
      const lz = logNormalise(here, o, symbols);
      if (lz === -Infinity) throw new InconsistentEvidenceError(datum, level, i);
      logEvidence += lz;
    }
    messages[level] = here;
  }
  return { logMessages: messages, logEvidence };
}

/**
 * Posterior marginals μ_ℓ of one datum (linear, normalised per node, [node·N_ℓ + a]) from its log
 * upward messages: the downward pass of docs/science.md §2 in the log domain.
 */
export function logMarginalsDatum(g: Grammar, logMessages: readonly Float64Array[]): Float64Array[] {
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const out: Float64Array[] = new Array(L + 1);
  out[0] = logMessages[0].map(Math.exp);
  let down = new Float64Array(g.classes).fill(-Math.log(g.classes));
  const vals = new Float64Array(s);
  const prefix = new Float64Array(s + 1);
  const suffix = new Float64Array(s + 1);
  for (let level = 0; level < L; level++) {
    const width = s ** level;
    const symbols = symbolsAt(g, level);
    const below = logMessages[level + 1];
    const rules = g.rules[level];
    const childDown = new Float64Array(width * s * v).fill(-Infinity);
    for (let p = 0; p < width; p++) {
      for (let a = 0; a < symbols; a++) {
        const w = down[p * symbols + a];
        if (w === -Infinity) continue;
        for (let k = 0; k < m; k++) {
          const r = (a * m + k) * s;
          for (let j = 0; j < s; j++) vals[j] = below[(p * s + j) * v + rules[r + j]];
          prefix[0] = 0;
          suffix[s] = 0;
          for (let j = 0; j < s; j++) prefix[j + 1] = prefix[j] + vals[j];
          for (let j = s - 1; j >= 0; j--) suffix[j] = suffix[j + 1] + vals[j];
          for (let j = 0; j < s; j++) {
            const idx = (p * s + j) * v + rules[r + j];
            childDown[idx] = logAddExp(childDown[idx], w + prefix[j] + suffix[j + 1]);
          }
        }
      }
    }
    const mu = new Float64Array(width * s * v);
    for (let c = 0; c < width * s; c++) {
      logNormalise(childDown, c * v, v);
      for (let b = 0; b < v; b++) mu[c * v + b] = childDown[c * v + b] + below[c * v + b];
      logNormalise(mu, c * v, v);
      for (let b = 0; b < v; b++) mu[c * v + b] = Math.exp(mu[c * v + b]);
    }
    out[level + 1] = mu;
    down = childDown;
  }
  return out;
}

/**
 * Index drawn from unnormalised non-negative weights w[offset..offset+n) with total `total` and a
 * uniform u ∈ [0, 1): the draw of the reference sampler (and of the kernels' `draw`).
 */
export function drawIndexWith(w: ArrayLike<number>, offset: number, n: number, total: number, u: number): number {
  let x = u * total;
  for (let i = 0; i < n - 1; i++) {
    x -= w[offset + i];
    if (x < 0) return i;
  }
  // Round-off may leave x ≥ 0 after the last positive weight: return the last positive one.
  for (let i = n - 1; i > 0; i--) if (w[offset + i] > 0) return i;
  return 0;
}

/**
 * K exact posterior trees of one datum from its log upward messages, drawn like the reference
 * sampler (same uniforms in the same places: `uniform(level, t, node)` with level −1 for the root,
 * node 0) but with each node's rule weights exp(Σ_j log ν↑ − max) so they never all underflow.
 * `write(level, t, node, symbol)` receives every sampled symbol, level 0 (the root) to L.
 */
export function logSampleDatum(
  g: Grammar,
  logMessages: readonly Float64Array[],
  K: number,
  uniform: (level: number, t: number, node: number) => number,
  write: (level: number, t: number, node: number, symbol: number) => void,
): void {
  const { vocab: v, tuple: s, synonyms: m, depth: L } = g;
  const nc = g.classes;
  const root = logMessages[0].map(Math.exp);
  let rootTotal = 0;
  for (let a = 0; a < nc; a++) rootTotal += root[a];
  const weights = new Float64Array(m);
  const terms = new Float64Array(m);
  for (let t = 0; t < K; t++) {
    let parents = new Int32Array([drawIndexWith(root, 0, nc, rootTotal, uniform(-1, t, 0))]);
    write(0, t, 0, parents[0]);
    for (let level = 0; level < L; level++) {
      const width = s ** level;
      const below = logMessages[level + 1];
      const rules = g.rules[level];
      const children = new Int32Array(width * s);
      for (let i = 0; i < width; i++) {
        const a = parents[i];
        let tmax = -Infinity;
        for (let k = 0; k < m; k++) {
          let x = 0;
          for (let j = 0; j < s; j++) x += below[(i * s + j) * v + rules[(a * m + k) * s + j]];
          terms[k] = x;
          if (x > tmax) tmax = x;
        }
        let sum = 0;
        for (let k = 0; k < m; k++) {
          weights[k] = tmax === -Infinity ? 0 : Math.exp(terms[k] - tmax);
          sum += weights[k];
        }
        const k = drawIndexWith(weights, 0, m, sum, uniform(level, t, i));
        for (let j = 0; j < s; j++) {
          children[i * s + j] = rules[(a * m + k) * s + j];
          write(level + 1, t, i * s + j, children[i * s + j]);
        }
      }
      parents = children;
    }
  }
}

/** Float precision of a linear BP pass. */
export type PassPrecision = 'f64' | 'f32';

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

/**
 * How far below 1 a normaliser z of a linear BP pass fell, in binary orders of magnitude:
 * max(0, −exponent(z)) (a subnormal z counts 1023); 2^20 when z is zero, infinite or NaN (the pass failed).
 * The kernels compute the same number from the same bits.
 */
export function precisionDeficit(z: number): number {
  if (!(z > 0) || !(z < Infinity)) return 1 << 20;
  F64[0] = z;
  const e = ((U32[1] >>> 20) & 0x7ff) - 1023;
  return e < 0 ? -e : 0;
}

/**
 * The largest total deficit (the sum over levels of each level's largest {@link precisionDeficit},
 * normalisers taken without the 1/m of the rules' prior) for which a linear pass is trusted.
 * Values below the float's normal range (2^-1022, float32 2^-126) are lost; each level divides the
 * absolute loss by its normaliser and multiplies it by at most m·s, so the loss stays below the
 * float's relative precision (2^-53, float32 2^-24) of every normaliser when
 * Σ_ℓ deficit_ℓ + L·log2(m·s) ≤ 1022 − 53 (float32: 126 − 24).
 */
export function deficitLimit(g: Grammar, precision: PassPrecision): number {
  const budget = precision === 'f64' ? 1022 - 53 : 126 - 24;
  return budget - g.depth * Math.ceil(Math.log2(g.synonyms * g.tuple));
}

/** Leaf log-likelihoods of data [start, end) from linear ones: log λ (exact for the λ given). */
export function logOfLinear(lambda: ArrayLike<number>, start: number, end: number): Float64Array {
  const out = new Float64Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = Math.log(lambda[i]);
  return out;
}

/**
 * Marginals of the data that need the log domain: those of `up.logDomain`, and any datum whose
 * linear marginals are not finite (its log messages are then the logs of its linear ones).
 * Shared by every backend.
 */
export function overwriteLogDomainMarginals(g: Grammar, up: UpwardMessages, marginals: FloatArray[]): void {
  const L = g.depth;
  const sizes = Array.from({ length: L + 1 }, (_, l) => g.tuple ** l * symbolsAt(g, l));
  for (let n = 0; n < up.count; n++) {
    let logMessages = up.logDomain?.get(n);
    if (!logMessages) {
      let finite = true;
      for (let l = 1; l <= L && finite; l++) {
        const mu = marginals[l];
        for (let i = n * sizes[l]; i < (n + 1) * sizes[l]; i++) {
          if (!(mu[i] >= 0 && mu[i] < Infinity)) {
            finite = false;
            break;
          }
        }
      }
      if (finite) continue;
      logMessages = up.messages.map((msg, l) => logOfLinear(msg, n * sizes[l], (n + 1) * sizes[l]));
    }
    const mu = logMarginalsDatum(g, logMessages);
    for (let l = 0; l <= L; l++) marginals[l].set(mu[l], n * sizes[l]);
  }
}

/**
 * Redraws the trees of the data of `logDomain` (datum → log messages) with the same uniforms
 * (`uniform(level, row, node)`, level −1 the root), into datum-major `levels`. Shared by every backend.
 */
export function resampleLogDomain(
  g: Grammar,
  logDomain: ReadonlyMap<number, readonly Float64Array[]>,
  K: number,
  levels: Int32Array[],
  uniform: (level: number, row: number, node: number) => number,
): void {
  for (const [n, logMessages] of logDomain) {
    logSampleDatum(
      g,
      logMessages,
      K,
      (level, t, node) => uniform(level, n * K + t, node),
      (level, t, node, symbol) => {
        levels[level][(n * K + t) * g.tuple ** level + node] = symbol;
      },
    );
  }
}
