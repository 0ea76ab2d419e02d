/**
 * Effective leaf belief of each noise process (docs/science.md §3, §5): the mean posterior mass a leaf's
 * normalised likelihood puts on the clean token, E[λ(x_0)]. It is the number the mean-field map
 * starts from, p_L, which represents a message by its mass on the true symbol.
 */
import { checkInt, checkNumber } from '../core/errors.ts';
import type { ProcessName } from '../noise/process.ts';

/**
 * Mean posterior mass on the clean token of a v-symbol one-hot token under Gaussian noise
 * (docs/science.md §3): x = √ᾱ e_{x0} + √(1−ᾱ) ξ, λ = softmax(x·√ᾱ/(1−ᾱ)). With k = √(ᾱ/(1−ᾱ)) and
 * z = ξ_{x0}, the mass is 1/(1 + e^{−k²−kz}·S), S = Σ_{b≠x0} e^{kξ_b}. We use
 * E[1/(1+X)] = ∫_0^∞ e^{−u} E[e^{−uX}] du and independence of the ξ_b:
 * E = ∫ N(z) ∫ e^{y} e^{−e^{y}} φ(y − k² − kz)^{v−1} dy dz, φ(t) = E_ξ[exp(−e^{t+kξ})],
 * all by trapezoid rules (φ tabulated on a 0.02 grid, cubic interpolation). Accuracy ≈ 1e−5.
 */
export function gaussianLeafBelief(alphaBar: number, vocab: number): number {
  checkNumber('alphaBar', alphaBar, 0, 1);
  checkInt('vocab', vocab, 2, 65536);
  if (alphaBar === 1) return 1;
  // Schedules give few distinct ᾱ (integer t) and each quadrature costs ~0.1 s: remember them.
  const key = `${vocab}|${alphaBar}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const value = gaussianQuadrature(alphaBar, vocab);
  if (memo.size >= MEMO_LIMIT) memo.delete(memo.keys().next().value as string);
  memo.set(key, value);
  return value;
}

const MEMO_LIMIT = 8192;
const memo = new Map<string, number>();

function gaussianQuadrature(alphaBar: number, vocab: number): number {
  const k = Math.sqrt(alphaBar / (1 - alphaBar));
  const Z = 8.5; // |ξ| beyond 8.5 has probability 2e−17: truncation is invisible
  const hXi = 0.025;
  const yLo = -40; // ∫ e^y e^{−e^y} over y < −40 is e^{−40}
  const yHi = 4; // and over y > 4 it is e^{−e^4} ≈ 2e−24
  const hY = 0.025;
  // Arguments t of φ range over y − k² − kz; below tLo φ = 1 and above tHi φ = 0 to 1e−17.
  const tMin = yLo - k * k - k * Z;
  const tMax = yHi - k * k + k * Z;
  const tLo = Math.max(tMin, -k * Z - 45);
  const tHi = Math.min(tMax, k * Z + 5);
  const hT = 0.02;
  const nT = Math.max(4, Math.ceil((tHi - tLo) / hT) + 1);
  const nXi = Math.round((2 * Z) / hXi) + 1;
  const xiW = new Float64Array(nXi);
  const xiV = new Float64Array(nXi);
  let wSum = 0;
  for (let i = 0; i < nXi; i++) {
    const xi = -Z + i * hXi;
    xiV[i] = k * xi;
    xiW[i] = Math.exp(-0.5 * xi * xi) * (i === 0 || i === nXi - 1 ? 0.5 : 1);
    wSum += xiW[i];
  }
  for (let i = 0; i < nXi; i++) xiW[i] /= wSum;
  // φ on the grid, with one extra node at each end for the cubic interpolation below.
  const phi = new Float64Array(nT + 2);
  for (let n = 0; n < nT + 2; n++) {
    const t = tLo + (n - 1) * hT;
    let acc = 0;
    for (let i = 0; i < nXi; i++) {
      const e = t + xiV[i];
      if (e < -40)
        acc += xiW[i]; // exp(−e^e) = 1 − O(e^−40)
      else if (e < 5) acc += xiW[i] * Math.exp(-Math.exp(e));
    }
    phi[n] = acc;
  }
  const last = tLo + (nT - 1) * hT;
  const phiAt = (t: number): number => {
    if (t <= tLo) return tLo > tMin ? 1 : phi[1];
    if (t >= last) return tHi < tMax ? 0 : phi[nT];
    // Catmull–Rom cubic through the four nearest nodes: error O(h⁴).
    const x = (t - tLo) / hT;
    const i = Math.floor(x) + 1;
    const f = x - (i - 1);
    const p0 = phi[i - 1];
    const p1 = phi[i];
    const p2 = phi[i + 1];
    const p3 = phi[i + 2] ?? p2;
    return p1 + 0.5 * f * (p2 - p0 + f * (2 * p0 - 5 * p1 + 4 * p2 - p3 + f * (3 * (p1 - p2) + p3 - p0)));
  };
  const nY = Math.round((yHi - yLo) / hY) + 1;
  const yW = new Float64Array(nY);
  for (let i = 0; i < nY; i++) {
    const y = yLo + i * hY;
    yW[i] = Math.exp(y - Math.exp(y)) * hY;
  }
  let total = 0;
  let zSum = 0;
  for (let iz = 0; iz < nXi; iz++) {
    const z = -Z + iz * hXi;
    const wz = xiW[iz];
    if (wz < 1e-18) continue; // the rest of the z-integral weighs < 1e−15
    const shift = k * k + k * z;
    let inner = 0;
    for (let i = 0; i < nY; i++) {
      const ph = Math.min(1, Math.max(0, phiAt(yLo + i * hY - shift)));
      if (ph > 0) inner += yW[i] * ph ** (vocab - 1);
    }
    total += wz * inner;
    zSum += wz;
  }
  return Math.min(1, Math.max(1 / vocab, total / zSum));
}

/**
 * Effective leaf belief p_L = E[λ(x_0)] (normalised likelihood at the clean token) of a process at
 * its control value: ε for eps, uniform and mask, ᾱ for gaussian (docs/science.md §3).
 * - eps: 1 − ε + ε/v (docs/science.md §5).
 * - mask: visible w.p. 1 − ε (mass 1), masked w.p. ε (mass 1/v): again 1 − ε + ε/v.
 * - uniform: the observed token is right w.p. a = 1 − ε + ε/v (mass a), else mass ε/v:
 *   a² + (1 − a)·ε/v. (The likelihood's face value, 1 − ε + ε/v, is meanField.ts's `leafBelief`.)
 * - gaussian: {@link gaussianLeafBelief}.
 */
export function effectiveLeafBelief(process: ProcessName, control: number, vocab: number): number {
  checkNumber(process === 'gaussian' ? 'alphaBar' : 'noise', control, 0, 1);
  checkInt('vocab', vocab, 2, 65536);
  const faceValue = 1 - control + control / vocab;
  switch (process) {
    case 'eps':
    case 'mask':
      return faceValue;
    case 'uniform':
      return faceValue * faceValue + ((1 - faceValue) * control) / vocab;
    case 'gaussian':
      return gaussianLeafBelief(control, vocab);
  }
}

/**
 * The noise level (in `belief`'s own units) at which a decreasing belief function crosses
 * `target`, by bisection on [lo, hi] to `tol`; null when `target` is outside the range.
 */
export function solveDecreasing(belief: (noise: number) => number, target: number, lo = 0, hi = 1, tol = 1e-10): number | null {
  let a = lo;
  let b = hi;
  const fa = belief(a) - target;
  const fb = belief(b) - target;
  if (fa < 0 || fb > 0) return null;
  while (b - a > tol) {
    const mid = 0.5 * (a + b);
    if (belief(mid) - target > 0) a = mid;
    else b = mid;
  }
  return 0.5 * (a + b);
}
