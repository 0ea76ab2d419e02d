import type { Tensor, Tensor1D, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs';
import {
  embeddingAlphaBar,
  embeddingIndex,
  LAYER_NORM_EPS,
  paramShapes,
  timeEmbeddingConstants,
  validateBpUnetConfig,
  type BpUnetConfig,
  type BpUnetParams,
} from '../bpUnet.ts';
import { ParamError } from '../../core/errors.ts';
import type { Tf } from './backend.ts';
import { conv1x1, convStride, convTransposeStride, geluExact, layerNormRows } from './layers.ts';

/** The bpUNet's parameters as tf.Variables, by the names of {@link paramShapes} (PyTorch layouts). */
export type BpUnetVariables = Record<string, Variable>;

/** Any tensors by parameter name (variables, or plain tensors for a forward pass without training). */
export type BpUnetTensors = Record<string, Tensor>;

/**
 * One trainable tf.Variable per parameter, same name and shape (PyTorch layout) and a copy of
 * its data. The variables get tfjs' automatic (unique) names, so several models can coexist;
 * free them with {@link disposeVariables}. Throws a ParamError if a parameter's data length does
 * not match its shape.
 */
export function toVariables(tf: Tf, params: BpUnetParams): BpUnetVariables {
  const vars: BpUnetVariables = {};
  for (const [name, p] of Object.entries(params)) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (p.data.length !== size) throw new ParamError('params', `parameter ${name} has ${p.data.length} values for shape [${p.shape.join(', ')}]`);
    // tf.variable shares the initial tensor's data: dispose that tensor, the variable keeps its copy.
    const init = tf.tensor(p.data, p.shape, 'float32');
    vars[name] = tf.variable(init, true);
    init.dispose();
  }
  return vars;
}

/**
 * Reads variables (or tensors) back into plain parameters, in the order of {@link paramShapes}
 * (the checkpoint order): returns fresh Float32Array copies in PyTorch layout. Throws a ParamError
 * if a parameter of `config` is missing or has the wrong shape.
 */
export function fromVariables(vars: BpUnetTensors, config: BpUnetConfig): BpUnetParams {
  const out: BpUnetParams = {};
  for (const [name, shape] of paramShapes(config)) {
    const v = vars[name];
    if (!v) throw new ParamError('params', `parameter ${name} is missing`);
    if (v.shape.length !== shape.length || v.shape.some((n, i) => n !== shape[i])) {
      throw new ParamError('params', `parameter ${name} has shape [${v.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    out[name] = { shape: [...shape], data: new Float32Array(v.dataSync() as Float32Array) };
  }
  return out;
}

/** Disposes every tensor of a parameter map. */
export function disposeVariables(vars: BpUnetTensors): void {
  for (const v of Object.values(vars)) v.dispose();
}

/**
 * The bpUNet forward pass of bpUnet.ts (docs/science.md §7) on tfjs: returns logits N × v × d
 * (channel-first, like the published model; softmax over axis 1 gives x̂_0).
 *
 * - `x`: N × v × d network input (one-hot tokens; for the mask process a masked token is an
 *   all-zero column, see `oneHotInput` in loss.ts).
 * - `tOverT`: the N values t/T. They select ᾱ_τ of the embedding schedule through
 *   τ = `embeddingIndex(t/T)` computed in float64 on the host; pass a plain array to get exactly
 *   the float64 reference's τ (a tensor's values are float32 and are widened first). Unused by the
 *   mask process, whose embedding does not depend on t.
 *
 * Inside, activations are channel-last rows (layers.ts); the weights stay in PyTorch layout.
 */
export function bpUnetForward(tf: Tf, params: BpUnetTensors, config: BpUnetConfig, x: Tensor, tOverT: Tensor | ArrayLike<number>): Tensor3D {
  validateBpUnetConfig(config);
  const { vocab: v, tuple: s, depth: L, width: W } = config;
  const d = s ** L;
  if (x.rank !== 3 || x.shape[1] !== v || x.shape[2] !== d) {
    throw new ParamError('x', `network input has shape [${x.shape.join(', ')}], expected [N, ${v}, ${d}]`);
  }
  const n = x.shape[0];
  const times = isTensor(tOverT) ? (tOverT.dataSync() as Float32Array) : tOverT;
  if (times.length !== n) throw new ParamError('t', `${times.length} time values for ${n} inputs`);
  const { mu, sigma } = timeEmbeddingConstants(v);
  const p = (name: string) => {
    const t = params[name];
    if (!t) throw new ParamError('params', `parameter ${name} is missing`);
    return t;
  };

  return tf.tidy(() => {
    // Rows [N·d, v]: position-major within each sample.
    const rowsIn = tf.reshape(tf.transpose(x, [0, 2, 1]), [n * d, v]) as Tensor2D;
    // Step 1, the BP time embedding h_0 = (u − μ)/σ.
    let h0: Tensor2D;
    if (config.process === 'uniform') {
      // u = ᾱ_τ·x + (1 − ᾱ_τ)/v, so h_0 = x·(ᾱ_τ/σ) + ((1 − ᾱ_τ)/v − μ)/σ with per-sample scalars.
      const ab = embeddingAlphaBar();
      const scale = new Float32Array(n);
      const shift = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const a = ab[embeddingIndex(times[i])];
        scale[i] = a / sigma;
        shift[i] = ((1 - a) / v - mu) / sigma;
      }
      const x3 = tf.reshape(rowsIn, [n, d, v]);
      h0 = tf.reshape(tf.add(tf.mul(x3, tf.tensor3d(scale, [n, 1, 1])), tf.tensor3d(shift, [n, 1, 1])), [n * d, v]) as Tensor2D;
    } else {
      // u = x + (1 − Σ_b x_b)/v: a visible token keeps its one-hot column, a masked one becomes uniform.
      const missing = tf.sub(1, tf.sum(rowsIn, 1, true));
      h0 = tf.div(tf.sub(tf.add(rowsIn, tf.div(missing, v)), mu), sigma) as Tensor2D;
    }
    // Step 2: e = GELU(conv1×1(h_0) / √v).
    const e = geluExact(tf, conv1x1(tf, h0, p('embed.weight') as Tensor3D, 1 / Math.sqrt(v)));
    // Step 3: down blocks; skips[i] has length d/s^(i+1).
    const skips: Tensor2D[] = [];
    let h = e;
    for (let i = 0; i < L; i++) {
      const c = convStride(tf, h, p(`down.${i}.conv.weight`) as Tensor3D);
      h = geluExact(tf, layerNormRows(tf, c, p(`down.${i}.norm.weight`) as Tensor1D, p(`down.${i}.norm.bias`) as Tensor1D, LAYER_NORM_EPS));
      skips.push(h);
    }
    // Step 4: up blocks; the first concatenates the bottleneck with itself (skips[L−1] is h).
    for (let j = 0; j < L; j++) {
      const cat = tf.concat([h, skips[L - 1 - j]], 1) as Tensor2D;
      const c = convTransposeStride(tf, cat, p(`up.${j}.conv.weight`) as Tensor3D);
      h = geluExact(tf, layerNormRows(tf, c, p(`up.${j}.norm.weight`) as Tensor1D, p(`up.${j}.norm.bias`) as Tensor1D, LAYER_NORM_EPS));
    }
    // Step 5: readout of concat(h, e), divided by its fan-in 2W (not its square root).
    const logits = conv1x1(tf, tf.concat([h, e], 1) as Tensor2D, p('readout.weight') as Tensor3D, 1 / (2 * W));
    return tf.transpose(tf.reshape(logits, [n, d, v]), [0, 2, 1]) as Tensor3D;
  });
}

function isTensor(t: Tensor | ArrayLike<number>): t is Tensor {
  return typeof (t as Tensor).dataSync === 'function';
}
