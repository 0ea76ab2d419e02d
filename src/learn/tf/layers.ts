import type { GradSaveFunc, Tensor, Tensor1D, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from './backend.ts';

/**
 * The bpUNet's layers on tfjs, with hand-written backward passes (tf.customGrad).
 *
 * Activations are "row" matrices, channel-last: a batch of N sequences of length ℓ with C channels
 * is a Tensor2D [N·ℓ, C] whose row n·ℓ + p holds position p of sequence n. In this layout a
 * convolution with kernel = stride = s is a reshape plus one matMul, and LayerNorm over channels
 * is a reduction along the contiguous axis. Weights arrive in PyTorch's layouts (bpUnet.ts) and are
 * permuted to matMul form here; the permutes' gradients are tfjs' own (a transpose back).
 *
 * Why custom gradients: tfjs-wasm's matMul with transposeA/transposeB, which the built-in matMul
 * gradient uses, is 10–17× slower than transposing explicitly and multiplying (ECOSYSTEM.md).
 */

/**
 * y = scale · (x · k) for x [R, Cin], k [Cin, Cout]: returns [R, Cout]. Backward: dx = scale · dy · kᵀ,
 * dk = scale · xᵀ · dy, both with explicit transposes.
 */
export function denseScaled(tf: Tf, x: Tensor2D, k: Tensor2D, scale = 1): Tensor2D {
  const op = tf.customGrad((a: Tensor | GradSaveFunc, b: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
    const [xa, kb] = [a as Tensor2D, b as Tensor2D];
    (save as GradSaveFunc)([xa, kb]);
    const y = tf.matMul(xa, kb);
    return {
      value: (scale === 1 ? y : tf.mul(y, scale)) as Tensor2D,
      gradFunc: (dy: Tensor2D, saved: Tensor[]) => {
        const [xs, ks] = saved as Tensor2D[];
        const g = scale === 1 ? dy : tf.mul(dy, scale);
        return [tf.matMul(g, tf.transpose(ks)), tf.matMul(tf.transpose(xs), g)];
      },
    };
  });
  return op(x, k) as Tensor2D;
}

/**
 * PyTorch `conv1d(x, w, stride = s) / √(s·Cin)` with kernel = stride = s and no bias, on rows:
 * x [N·ℓ, Cin] (ℓ divisible by s), w [Cout, Cin, s] → [N·ℓ/s, Cout], where
 * y[n, q, o] = Σ_{c, j} x[n, q·s + j, c] · w[o, c, j] / √(s·Cin).
 * The s consecutive rows of a window become one row of length s·Cin (index j·Cin + c), so the
 * kernel is w permuted to [s, Cin, Cout] and flattened to [s·Cin, Cout].
 */
export function convStride(tf: Tf, x: Tensor2D, w: Tensor3D): Tensor2D {
  const [cout, cin, s] = w.shape;
  if (x.shape[1] !== cin) throw new Error(`convStride: input has ${x.shape[1]} channels, weight expects ${cin}`);
  if (x.shape[0] % s !== 0) throw new Error(`convStride: ${x.shape[0]} rows are not a multiple of the stride ${s}`);
  const k = tf.reshape(tf.transpose(w, [2, 1, 0]), [s * cin, cout]) as Tensor2D;
  const windows = tf.reshape(x, [x.shape[0] / s, s * cin]) as Tensor2D;
  return denseScaled(tf, windows, k, 1 / Math.sqrt(s * cin));
}

/**
 * PyTorch `conv_transpose1d(x, w, stride = s) / √(s·Cin)` with kernel = stride = s and no bias, on
 * rows: x [N·ℓ, Cin], w [Cin, Cout, s] (ConvTranspose1d layout) → [N·ℓ·s, Cout], where
 * y[n, p·s + j, o] = Σ_c x[n, p, c] · w[c, o, j] / √(s·Cin) (the published fan-in: kernel × in-channels).
 * One matMul with w permuted to [Cin, s, Cout] and flattened to [Cin, s·Cout]; each output row of
 * length s·Cout then unfolds into s rows.
 */
export function convTransposeStride(tf: Tf, x: Tensor2D, w: Tensor3D): Tensor2D {
  const [cin, cout, s] = w.shape;
  if (x.shape[1] !== cin) throw new Error(`convTransposeStride: input has ${x.shape[1]} channels, weight expects ${cin}`);
  const k = tf.reshape(tf.transpose(w, [0, 2, 1]), [cin, s * cout]) as Tensor2D;
  const y = denseScaled(tf, x, k, 1 / Math.sqrt(s * cin));
  return tf.reshape(y, [x.shape[0] * s, cout]) as Tensor2D;
}

/**
 * A 1×1 convolution (PyTorch weight [Cout, Cin, 1], no bias) on rows, output times `scale`:
 * x [R, Cin] → [R, Cout], y[r, o] = scale · Σ_c x[r, c] · w[o, c, 0].
 */
export function conv1x1(tf: Tf, x: Tensor2D, w: Tensor3D, scale: number): Tensor2D {
  const [cout, cin] = w.shape;
  if (x.shape[1] !== cin) throw new Error(`conv1x1: input has ${x.shape[1]} channels, weight expects ${cin}`);
  const k = tf.transpose(tf.reshape(w, [cout, cin]) as Tensor2D) as Tensor2D;
  return denseScaled(tf, x, k, scale);
}

/**
 * LayerNorm over the channels of each row (PyTorch `LayerNorm(C)` applied channel-last):
 * y = γ ⊙ (x − μ)/√(σ² + eps) + β with μ, σ² the row's mean and biased variance; x [R, C],
 * γ, β [C] → [R, C]. Backward, with x̂ the normalised input and g = dy ⊙ γ:
 * dx = (g − mean_c g − x̂ · mean_c(g ⊙ x̂)) / √(σ² + eps), dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.
 */
export function layerNormRows(tf: Tf, x: Tensor2D, gamma: Tensor1D, beta: Tensor1D, eps: number): Tensor2D {
  const op = tf.customGrad((a: Tensor | GradSaveFunc, g: Tensor | GradSaveFunc, b: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
    const xa = a as Tensor2D;
    const centred = tf.sub(xa, tf.mean(xa, 1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), 1, true), eps));
    const xhat = tf.mul(centred, rstd);
    (save as GradSaveFunc)([xhat, rstd, g as Tensor]);
    return {
      value: tf.add(tf.mul(xhat, g as Tensor), b as Tensor) as Tensor2D,
      gradFunc: (dy: Tensor2D, saved: Tensor[]) => {
        const [xh, rs, gm] = saved;
        const gx = tf.mul(dy, gm);
        const inner = tf.sub(tf.sub(gx, tf.mean(gx, 1, true)), tf.mul(xh, tf.mean(tf.mul(gx, xh), 1, true)));
        return [tf.mul(inner, rs), tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
      },
    };
  });
  return op(x, gamma, beta) as Tensor2D;
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * Exact GELU (PyTorch's default `nn.GELU()`): y = x·Φ(x), Φ(x) = (1 + erf(x/√2))/2, elementwise.
 * Backward: dy · (Φ(x) + x·φ(x)), φ the standard normal density. tfjs has Erf on wasm (error
 * ≈ 2e−8) and on cpu (≈ 1.5e−7); the custom gradient reuses Φ from the forward pass.
 */
export function geluExact<T extends Tensor>(tf: Tf, x: T): T {
  const op = tf.customGrad((a: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
    const xa = a as Tensor;
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(xa, Math.SQRT1_2)), 1), 0.5);
    (save as GradSaveFunc)([xa, cdf]);
    return {
      value: tf.mul(xa, cdf),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, cs] = saved;
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), INV_SQRT_2PI);
        return tf.mul(dy, tf.add(cs, tf.mul(xs, pdf)));
      },
    };
  });
  return op(x) as T;
}
