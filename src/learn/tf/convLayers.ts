import type { GradSaveFunc, Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from './backend.ts';
import { denseScaled } from './layers.ts';

/**
 * Image layers on tfjs for the MNIST U-Net and classifier, channel-last (NHWC) activations and
 * PyTorch-layout weights (permuted here).
 *
 * Why custom gradients: on tfjs-wasm `tf.grad` through `tf.conv2d` fails (Conv2DBackpropFilter is
 * not registered) and the registered input gradient is 10× slower than the forward convolution.
 * The backward pass of {@link conv3x3} is two more forward convolutions instead (ECOSYSTEM notes,
 * checked against finite differences in test/learn-images.test.ts).
 */

/**
 * PyTorch `conv2d(x, w, b, padding = 1)` for 3×3 kernels: x [N, H, W, I], w [O, I, 3, 3], b [O]
 * → [N, H, W, O]. Backward: dx = conv(dy, w rotated 180° with in/out swapped, 'same');
 * dw = conv(padded x with batch and channels swapped [I, H+2, W+2, N], dy as a filter [H, W, N, O],
 * 'valid') → [I, 3, 3, O]; db = Σ dy.
 */
export function conv3x3(tf: Tf, x: Tensor4D, w: Tensor, b: Tensor1D): Tensor4D {
  const filter = tf.transpose(w, [2, 3, 1, 0]) as Tensor4D; // [3, 3, I, O]
  const op = tf.customGrad((a: Tensor | GradSaveFunc, f: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
    const xa = a as Tensor4D;
    const fa = f as Tensor4D;
    (save as GradSaveFunc)([xa, fa]);
    return {
      value: tf.conv2d(xa, fa, 1, 'same'),
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const [xs, fs] = saved as Tensor4D[];
        const flipped = tf.transpose(tf.reverse(fs, [0, 1]), [0, 1, 3, 2]) as Tensor4D; // [3, 3, O, I]
        const dx = tf.conv2d(dy, flipped, 1, 'same');
        const padded = tf.pad(xs, [[0, 0], [1, 1], [1, 1], [0, 0]]);
        const xT = tf.transpose(padded, [3, 1, 2, 0]) as Tensor4D; // [I, H+2, W+2, N]
        const dyT = tf.transpose(dy, [1, 2, 0, 3]) as Tensor4D; // [H, W, N, O]
        const dfT = tf.conv2d(xT, dyT, 1, 'valid'); // [I, 3, 3, O]
        return [dx, tf.transpose(dfT, [1, 2, 0, 3])];
      },
    };
  });
  return tf.add(op(x, filter), b) as Tensor4D;
}

/** A 1×1 convolution with bias: x [N, H, W, I], w [O, I, 1, 1], b [O] → [N, H, W, O]. */
export function conv1x1Bias(tf: Tf, x: Tensor4D, w: Tensor, b: Tensor1D): Tensor4D {
  const [n, h, wd, cin] = x.shape;
  const cout = w.shape[0];
  const k = tf.transpose(tf.reshape(w, [cout, cin])) as Tensor2D;
  const y = denseScaled(tf, tf.reshape(x, [n * h * wd, cin]) as Tensor2D, k);
  return tf.reshape(tf.add(y, b), [n, h, wd, cout]) as Tensor4D;
}

/** PyTorch `Linear`: x [N, I], w [O, I], b [O] → [N, O]. */
export function linear(tf: Tf, x: Tensor2D, w: Tensor, b: Tensor1D): Tensor2D {
  return tf.add(denseScaled(tf, x, tf.transpose(w) as Tensor2D), b) as Tensor2D;
}

/**
 * PyTorch `GroupNorm(G, C)` on NHWC: the channels split into G consecutive groups, each normalised
 * over its channels and all positions (biased variance, eps), then y = γ ⊙ x̂ + β per channel.
 * Backward with g = dy ⊙ γ: dx = (g − mean_grp g − x̂ · mean_grp(g ⊙ x̂)) / √(σ² + eps),
 * dγ = Σ dy ⊙ x̂, dβ = Σ dy over batch and positions.
 */
export function groupNorm(tf: Tf, x: Tensor4D, gamma: Tensor1D, beta: Tensor1D, groups: number, eps: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  const grouped = [n, h * w, groups, c / groups];
  const op = tf.customGrad((a: Tensor | GradSaveFunc, g: Tensor | GradSaveFunc, b: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
    const xg = tf.reshape(a as Tensor, grouped);
    const centred = tf.sub(xg, tf.mean(xg, [1, 3], true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), [1, 3], true), eps));
    const xhat = tf.reshape(tf.mul(centred, rstd), [n, h, w, c]);
    (save as GradSaveFunc)([xhat, rstd, g as Tensor]);
    return {
      value: tf.add(tf.mul(xhat, g as Tensor), b as Tensor) as Tensor4D,
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => {
        const [xh, rs, gm] = saved;
        const gx = tf.reshape(tf.mul(dy, gm), grouped);
        const xhg = tf.reshape(xh, grouped);
        const inner = tf.sub(tf.sub(gx, tf.mean(gx, [1, 3], true)), tf.mul(xhg, tf.mean(tf.mul(gx, xhg), [1, 3], true)));
        return [tf.reshape(tf.mul(inner, rs), [n, h, w, c]), tf.sum(tf.mul(dy, xh), [0, 1, 2]), tf.sum(dy, [0, 1, 2])];
      },
    };
  });
  return op(x, gamma, beta) as Tensor4D;
}

/** SiLU (swish): x · sigmoid(x). */
export function silu<T extends Tensor>(tf: Tf, x: T): T {
  return tf.mul(x, tf.sigmoid(x)) as T;
}

/** 2×2 average pooling, stride 2, NHWC (H and W even); reshapes and sums only, so autograd is cheap. */
export function avgPool2(tf: Tf, x: Tensor4D): Tensor4D {
  const [n, h, w, c] = x.shape;
  const rows = tf.sum(tf.reshape(x, [n * (h / 2), 2, w / 2, 2 * c]), 1); // [N·H/2, W/2, 2C]
  const cols = tf.sum(tf.reshape(rows, [n * (h / 2) * (w / 2), 2, c]), 1);
  return tf.reshape(tf.mul(cols, 0.25), [n, h / 2, w / 2, c]) as Tensor4D;
}

/** Nearest-neighbour 2× upsampling, NHWC, built from concatenations (tfjs' resize gradients are unreliable off wasm). */
export function upsample2(tf: Tf, x: Tensor4D): Tensor4D {
  const [n, h, w, c] = x.shape;
  const cols = tf.concat([tf.reshape(x, [n * h, w, 1, c]), tf.reshape(x, [n * h, w, 1, c])], 2); // [N·H, W, 2, C]
  const flat = tf.reshape(cols, [n * h, 1, 2 * w * c]);
  return tf.reshape(tf.concat([flat, flat], 1), [n, 2 * h, 2 * w, c]) as Tensor4D;
}
