import { ParamError } from '../core/errors.ts';
import type { Graph, Value } from '../nn/graph.ts';
import { embeddingAlphaBar, LAYER_NORM_EPS, paramShapes, timeEmbeddingConstants, validateBpUnetConfig, type BpUnetConfig } from './bpUnet.ts';

/**
 * The bpUNet of bpUnet.ts (docs/science.md §7) as an nn/ graph: the one definition that the
 * trainer differentiates (bpUnetTrain.ts) and the exporter writes (bpUnetOnnx.ts).
 *
 * Inside, activations are channel-last rows [N, ℓ, C]: a convolution with kernel = stride = s is a
 * reshape to [N, ℓ/s, s·C] and one matrix product with the PyTorch-layout weight permuted to
 * [s·C, C_out] inside the graph (so the parameters keep PyTorch's layouts and names), LayerNorm
 * over channels is ONNX's LayerNormalization on the last axis, and the only transposes of
 * activations are at the input and the output. With a concrete batch the products are 2-D
 * ([N·ℓ, K] × [K, M]: one Gemm each way in the backward pass); with a symbolic batch (export)
 * they are batched MatMuls.
 */

/**
 * Where the time embedding's ᾱ_τ comes from: fed per datum (`alphaBar`, [N] float32 values of
 * the embedding schedule, computed on the host with {@link embeddingAlphaBarOf}: training), or
 * computed in the graph from `tOverT` ([N], t/T) by {@link alphaBarAt} (the exported model).
 * The mask process ignores both (its embedding does not depend on t): pass `null`.
 */
export type BpUnetTime = { alphaBar: Value } | { tOverT: Value } | null;

/**
 * ᾱ_τ [N] for t/T [N] inside the exported model: τ = int64(clip(⌊t·1000⌋, 0, 1000)) (t·1000 in
 * float32, as PyTorch and `embeddingIndex` compute it), ᾱ_τ = the float32 table of
 * embeddingAlphaBar() at τ. No gradient (t is data).
 */
export function alphaBarAt(g: Graph, tOverT: Value): Value {
  const table = g.constant(Float32Array.from(embeddingAlphaBar()), [1001]);
  return g.gather(table, g.toInt64(g.clip(g.floor(g.mul(tOverT, 1000)), 0, 1000)));
}

let alphaBarTable: Float32Array | null = null;

/** The float32 ᾱ_τ of the embedding for each t/T (τ = `embeddingIndex`): what the exported graph's Gather reads. */
export function embeddingAlphaBarOf(tOverT: ArrayLike<number>): Float32Array {
  alphaBarTable ??= Float32Array.from(embeddingAlphaBar());
  const table = alphaBarTable;
  return Float32Array.from(tOverT, (t) => table[Math.min(1000, Math.max(0, Math.floor(Math.fround(Math.fround(t) * 1000))))]);
}

/** y = h·k for h [N, ℓ, K] and k [K, M]: 2-D (Gemm-friendly) when the batch is concrete, batched MatMul otherwise. */
function dense(g: Graph, h: Value, k: Value): Value {
  const [n, l, c] = h.shape;
  const m = k.shape[1] as number;
  if (typeof n !== 'number') return g.matmul(h, k);
  return g.reshape(g.matmul(g.reshape(h, [n * (l as number), c as number]), k), [n, l as number, m]);
}

/**
 * PyTorch `conv1d(x, w, stride = s) / √(s·C_in)` with kernel = stride = s and no bias, on rows:
 * h [N, ℓ, C_in] (ℓ divisible by s), w [C_out, C_in, s] → [N, ℓ/s, C_out], where
 * y[n, q, o] = Σ_{c, j} h[n, q·s + j, c]·w[o, c, j]/√(s·C_in). The s rows of a window become one
 * row of s·C_in (index j·C_in + c), so the kernel is w permuted to [s, C_in, C_out], flattened.
 */
export function convStrideRows(g: Graph, h: Value, w: Value): Value {
  const [cout, cin, s] = w.shape as number[];
  const len = h.shape[1] as number;
  if (h.shape[2] !== cin || len % s !== 0) throw new Error(`convStrideRows: rows [${h.shape.join(', ')}], weight [${w.shape.join(', ')}]`);
  const k = g.mul(g.reshape(g.transpose(w, [2, 1, 0]), [s * cin, cout]), 1 / Math.sqrt(s * cin));
  return dense(g, g.reshape(h, [0, len / s, s * cin]), k);
}

/**
 * PyTorch `conv_transpose1d(x, w, stride = s) / √(s·C_in)` with kernel = stride = s and no bias, on
 * rows: h [N, ℓ, C_in], w [C_in, C_out, s] (ConvTranspose1d layout) → [N, ℓ·s, C_out], where
 * y[n, p·s + j, o] = Σ_c h[n, p, c]·w[c, o, j]/√(s·C_in) (the published fan-in: kernel × in-channels).
 * One product with w permuted to [C_in, s, C_out] and flattened to [C_in, s·C_out]; each output row
 * then unfolds into s rows.
 */
export function convTransposeStrideRows(g: Graph, h: Value, w: Value): Value {
  const [cin, cout, s] = w.shape as number[];
  const len = h.shape[1] as number;
  if (h.shape[2] !== cin) throw new Error(`convTransposeStrideRows: rows [${h.shape.join(', ')}], weight [${w.shape.join(', ')}]`);
  const k = g.mul(g.reshape(g.transpose(w, [0, 2, 1]), [cin, s * cout]), 1 / Math.sqrt(s * cin));
  return g.reshape(dense(g, h, k), [0, len * s, cout]);
}

/** A 1×1 convolution (PyTorch weight [C_out, C_in, 1], no bias) on rows, times `scale`: h [N, ℓ, C_in] → [N, ℓ, C_out]. */
export function conv1x1Rows(g: Graph, h: Value, w: Value, scale: number): Value {
  const [cout, cin] = w.shape as number[];
  if (h.shape[2] !== cin) throw new Error(`conv1x1Rows: rows [${h.shape.join(', ')}], weight [${w.shape.join(', ')}]`);
  return dense(g, h, g.mul(g.transpose(g.reshape(w, [cout, cin]), [1, 0]), scale));
}

/** GELU(LayerNorm over channels (eps 1e−5, affine)) of rows [N, ℓ, C]: the norm + activation of every block. */
export function normGeluRows(g: Graph, h: Value, gamma: Value, beta: Value): Value {
  return g.gelu(g.layerNorm(h, gamma, beta, LAYER_NORM_EPS));
}

/**
 * The bpUNet on channel-last rows: `rows` [N, d, v] (row (n, i) is the one-hot of token i of
 * datum n; a masked token an all-zero row) → logits [N, d, v]. Steps 1–5 of bpUnet.ts's doc
 * comment; `params` holds the graph values of every parameter of `paramShapes(config)`.
 */
export function bpUnetRows(g: Graph, params: Record<string, Value>, config: BpUnetConfig, rows: Value, time: BpUnetTime): Value {
  validateBpUnetConfig(config);
  const { vocab: v, tuple: s, depth: L, width: W } = config;
  const d = s ** L;
  if (rows.shape.length !== 3 || rows.shape[1] !== d || rows.shape[2] !== v) throw new ParamError('x', `network rows have shape [${rows.shape.join(', ')}], expected [N, ${d}, ${v}]`);
  const p = (name: string) => {
    const value = params[name];
    if (!value) throw new ParamError('params', `parameter ${name} is missing`);
    return value;
  };
  for (const [name, shape] of paramShapes(config)) {
    if (p(name).shape.join(',') !== shape.join(',')) throw new ParamError('params', `parameter ${name} has shape [${p(name).shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const { mu, sigma } = timeEmbeddingConstants(v);
  // Step 1, the BP time embedding h_0 = (u − μ)/σ (docs/science.md §2: the leaf message of x_t).
  let u: Value;
  if (config.process === 'uniform') {
    if (time === null) throw new ParamError('t', 'the uniform process needs the time (alphaBar or tOverT)');
    const ab = 'alphaBar' in time ? time.alphaBar : alphaBarAt(g, time.tOverT);
    const ab3 = g.unsqueeze(ab, [1, 2]); // [N, 1, 1]
    u = g.add(g.mul(ab3, rows), g.mul(g.sub(1, ab3), 1 / v));
  } else {
    // A visible token keeps its one-hot row, a masked (all-zero) one becomes uniform.
    u = g.add(rows, g.mul(g.sub(1, g.reduceSum(rows, [2], true)), 1 / v));
  }
  const h0 = g.mul(g.sub(u, mu), 1 / sigma);
  // Step 2: e = GELU(conv1×1(h_0)/√v) (mean-field scaling: every convolution divided by √fan_in).
  const e = g.gelu(conv1x1Rows(g, h0, p('embed.weight'), 1 / Math.sqrt(v)));
  // Step 3: down blocks; skips[i] has length d/s^(i+1).
  const skips: Value[] = [];
  let h = e;
  for (let i = 0; i < L; i++) {
    h = normGeluRows(g, convStrideRows(g, h, p(`down.${i}.conv.weight`)), p(`down.${i}.norm.weight`), p(`down.${i}.norm.bias`));
    skips.push(h);
  }
  // Step 4: up blocks on concat(h, skip); the first concatenates the bottleneck (skips[L − 1] = h) with itself.
  for (let j = 0; j < L; j++) {
    const z = convTransposeStrideRows(g, g.concat([h, skips[L - 1 - j]], 2), p(`up.${j}.conv.weight`));
    h = normGeluRows(g, z, p(`up.${j}.norm.weight`), p(`up.${j}.norm.bias`));
  }
  // Step 5: readout of concat(h, e), divided by its fan-in 2W (not its square root).
  return conv1x1Rows(g, g.concat([h, e], 2), p('readout.weight'), 1 / (2 * W));
}

/**
 * The bpUNet with the published interface: `x` [N, v, d] (one-hot, channel-major; a masked token
 * an all-zero column) → logits [N, v, d]. `time` as in {@link BpUnetTime}. Two transposes wrap
 * {@link bpUnetRows}.
 */
export function bpUnetGraph(g: Graph, params: Record<string, Value>, config: BpUnetConfig, x: Value, time: BpUnetTime): Value {
  return g.transpose(bpUnetRows(g, params, config, g.transpose(x, [0, 2, 1]), time), [0, 2, 1]);
}
