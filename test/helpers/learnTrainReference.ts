import { embeddingAlphaBar, embeddingIndex, LAYER_NORM_EPS, timeEmbeddingConstants, type BpUnetConfig, type BpUnetParams } from '../../src/learn/bpUnet.ts';
import type { DiscreteSchedule } from '../../src/learn/schedule.ts';

/**
 * Test-only float64 references written straight from the PyTorch definitions (channel-first
 * arrays [C][len] per datum, explicit loops), to check the nn/ graph's layouts and the loss
 * formula independently of the implementation under test.
 */

type Chan = Float64Array[]; // [C][len]

function erf(x: number): number {
  // Numerical Recipes' erfc fit (|error| < 1.2e−7): below the float32 resolution the trained model works at.
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    1 -
    t *
      Math.exp(
        -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
}

const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** PyTorch conv1d(x, w, stride s), w [Cout][Cin][k] flat, no bias, output / scale. */
function conv1d(x: Chan, w: Float32Array, cout: number, k: number, stride: number, div: number): Chan {
  const cin = x.length;
  const lin = x[0].length;
  const lout = Math.floor((lin - k) / stride) + 1;
  const out: Chan = [];
  for (let o = 0; o < cout; o++) {
    const row = new Float64Array(lout);
    for (let q = 0; q < lout; q++) {
      let acc = 0;
      for (let c = 0; c < cin; c++) for (let j = 0; j < k; j++) acc += x[c][q * stride + j] * w[(o * cin + c) * k + j];
      row[q] = acc / div;
    }
    out.push(row);
  }
  return out;
}

/** PyTorch conv_transpose1d(x, w, stride s), w [Cin][Cout][k] flat, no bias, output / scale. */
function convTranspose1d(x: Chan, w: Float32Array, cout: number, k: number, stride: number, div: number): Chan {
  const cin = x.length;
  const lin = x[0].length;
  const lout = (lin - 1) * stride + k;
  const out: Chan = Array.from({ length: cout }, () => new Float64Array(lout));
  for (let c = 0; c < cin; c++) for (let p = 0; p < lin; p++) for (let o = 0; o < cout; o++) for (let j = 0; j < k; j++) out[o][p * stride + j] += x[c][p] * w[(c * cout + o) * k + j];
  for (const row of out) for (let i = 0; i < lout; i++) row[i] /= div;
  return out;
}

function channelLayerNorm(x: Chan, g: Float32Array, b: Float32Array): Chan {
  const C = x.length;
  const len = x[0].length;
  const out: Chan = Array.from({ length: C }, () => new Float64Array(len));
  for (let p = 0; p < len; p++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[c][p];
    mean /= C;
    let vr = 0;
    for (let c = 0; c < C; c++) vr += (x[c][p] - mean) ** 2;
    vr /= C;
    for (let c = 0; c < C; c++) out[c][p] = ((x[c][p] - mean) / Math.sqrt(vr + LAYER_NORM_EPS)) * g[c] + b[c];
  }
  return out;
}

const mapGelu = (x: Chan): Chan => x.map((row) => row.map(gelu));

/** The published bpUNET forward for one datum: x [v][d] (one-hot / zero columns), returns logits [v][d]. */
export function referenceForward(params: BpUnetParams, c: BpUnetConfig, x: Chan, tOverT: number): Chan {
  const { vocab: v, tuple: s, depth: L, width: W } = c;
  const { mu, sigma } = timeEmbeddingConstants(v);
  const ab = embeddingAlphaBar()[embeddingIndex(tOverT)];
  const d = x[0].length;
  const h0: Chan = x.map(() => new Float64Array(d));
  for (let p = 0; p < d; p++) {
    let sum = 0;
    for (let b = 0; b < v; b++) sum += x[b][p];
    for (let b = 0; b < v; b++) {
      const u = c.process === 'uniform' ? ab * x[b][p] + (1 - ab) / v : x[b][p] + (1 - sum) / v;
      h0[b][p] = (u - mu) / sigma;
    }
  }
  const P = (name: string) => params[name].data;
  const e = mapGelu(conv1d(h0, P('embed.weight'), W, 1, 1, Math.sqrt(v)));
  const outs: Chan[] = [e];
  let h = e;
  for (let i = 0; i < L; i++) {
    h = mapGelu(channelLayerNorm(conv1d(h, P(`down.${i}.conv.weight`), W, s, s, Math.sqrt(s * W)), P(`down.${i}.norm.weight`), P(`down.${i}.norm.bias`)));
    outs.push(h);
  }
  for (let j = 0; j < L; j++) {
    const skip = outs.pop()!;
    const cat = [...h, ...skip];
    h = mapGelu(channelLayerNorm(convTranspose1d(cat, P(`up.${j}.conv.weight`), W, s, s, Math.sqrt(s * 2 * W)), P(`up.${j}.norm.weight`), P(`up.${j}.norm.bias`)));
  }
  return conv1d([...h, ...outs.pop()!], P('readout.weight'), v, 1, 1, 2 * W);
}

/** The D3PM loss of docs/science.md §7 in float64 from logits [N][v][d] (uniform or mask). */
export function referenceLoss(process: 'uniform' | 'mask', logits: number[][][], x0: Int32Array, xt: Int32Array, t: ArrayLike<number>, sch: DiscreteSchedule): number {
  const n = logits.length;
  const v = logits[0].length;
  const d = logits[0][0].length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const a = sch.alpha[t[i]];
    const abPrev = sch.alphaBar[t[i] - 1];
    const ab = sch.alphaBar[t[i]];
    for (let p = 0; p < d; p++) {
      const mx = Math.max(...logits[i].map((r) => r[p]));
      const ex = logits[i].map((r) => Math.exp(r[p] - mx));
      const z = ex.reduce((x, y) => x + y, 0);
      const xhat = ex.map((e) => e / z);
      const r = i * d + p;
      // Outcomes 0 … v−1 and (mask) v = MASK.
      let qt: number[];
      let qm: number[];
      if (process === 'uniform') {
        const like = (k: number) => (k === xt[r] ? a : 0) + (1 - a) / v;
        qt = xhat.map((_, k) => like(k) * ((k === x0[r] ? abPrev : 0) + (1 - abPrev) / v));
        qm = xhat.map((xh, k) => like(k) * (abPrev * xh + (1 - abPrev) / v));
      } else if (xt[r] !== -1) {
        qt = xhat.map((_, k) => (k === xt[r] ? 1 : 0)).concat([0]);
        qm = qt.slice();
      } else {
        const pr = (abPrev - ab) / (1 - ab);
        qt = xhat.map((_, k) => (k === x0[r] ? pr : 0)).concat([1 - pr]);
        qm = xhat.map((xh) => pr * xh).concat([1 - pr]);
      }
      const zt = qt.reduce((x, y) => x + y, 0);
      const zm = qm.reduce((x, y) => x + y, 0);
      for (let k = 0; k < qt.length; k++) {
        const q1 = qt[k] / zt;
        const q2 = qm[k] / zm;
        total += q1 * (Math.log(q1 + 1e-8) - Math.log(q2 + 1e-8));
      }
    }
  }
  return total / (n * d);
}
