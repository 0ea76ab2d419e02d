import { concreteShape, shapeText, type Value } from './graphCore.ts';
import { broadcastShapes, TensorGraph } from './graphTensor.ts';

/** Options of a convolution: per spatial axis (1-D or 2-D); group 1, dilation 1. */
export interface ConvOptions {
  /** Symmetric zero padding per spatial axis (default 0). */
  pads?: number[];
  /** Strides per spatial axis (default 1). */
  strides?: number[];
}

/**
 * The linear-map ops of the graph (graph.ts's `Graph` builds on them): matrix products,
 * convolutions and resampling, each with its shape rule and backward rule, and the convolution
 * weight gradients those rules build.
 */
export class LinearGraph extends TensorGraph {
  // ---- linear algebra ---------------------------------------------------------------------

  /** Batched matrix product a [..., m, k] · b [..., k, n] (batch dims broadcast). */
  matmul(a: Value, b: Value): Value {
    const ra = a.shape.length;
    const rb = b.shape.length;
    if (ra < 2 || rb < 2 || a.shape[ra - 1] !== b.shape[rb - 2]) throw new Error(`matmul: shapes ${shapeText(a.shape)} and ${shapeText(b.shape)}`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const out = [...batch, a.shape[ra - 2], b.shape[rb - 1]];
    return this.emit('MatMul', [a, b], {}, [out], (gy, needs) => {
      if (ra === 2 && rb === 2) {
        return [needs[0] ? this.gemm(gy, b, null, { transB: true }) : null, needs[1] ? this.gemm(a, gy, null, { transA: true }) : null];
      }
      const t = (v: Value) => this.transpose(v, [...v.shape.map((_, i) => i).slice(0, -2), v.shape.length - 1, v.shape.length - 2]);
      return [needs[0] ? this.unbroadcast(this.matmul(gy, t(b)), a.shape) : null, needs[1] ? this.unbroadcast(this.matmul(t(a), gy), b.shape) : null];
    })[0];
  }

  /** y = op(a)·op(b) + c for 2-D a, b (op: optional transpose); c broadcasts to [m, n]. */
  gemm(a: Value, b: Value, c: Value | null, { transA = false, transB = false }: { transA?: boolean; transB?: boolean } = {}): Value {
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error(`gemm: shapes ${shapeText(a.shape)} and ${shapeText(b.shape)}`);
    const [m, k] = transA ? [a.shape[1], a.shape[0]] : a.shape;
    const [k2, n] = transB ? [b.shape[1], b.shape[0]] : b.shape;
    if (k !== k2) throw new Error(`gemm: inner dims ${k} and ${k2}`);
    const attrs = { ...(transA ? { transA: 1 } : {}), ...(transB ? { transB: 1 } : {}) };
    return this.emit('Gemm', c ? [a, b, c] : [a, b], attrs, [[m, n]], (gy, needs) => [
      // d op(a) = gy·op(b)ᵀ, d op(b) = op(a)ᵀ·gy, each transposed back where op transposes.
      needs[0] ? (transA ? this.gemm(b, gy, null, { transA: transB, transB: true }) : this.gemm(gy, b, null, { transB: !transB })) : null,
      needs[1] ? (transB ? this.gemm(gy, a, null, { transA: true, transB: transA }) : this.gemm(a, gy, null, { transA: !transA })) : null,
      c && needs[2] ? this.unbroadcast(gy, c.shape) : null,
    ])[0];
  }

  /** PyTorch `Linear`: x [N, in] · wᵀ + b, w [out, in], b [out]. */
  linear(x: Value, w: Value, b: Value | null): Value {
    return this.gemm(x, w, b, { transB: true });
  }

  // ---- convolutions and resampling --------------------------------------------------------

  /**
   * Convolution (1-D or 2-D, group 1, dilation 1) with optional bias: x [N, C, …], w [O, C, k…],
   * b [O]. Backward rules for stride 1 (any kernel and padding) and for kernel = stride without
   * padding (non-overlapping windows, e.g. 1×1 convolutions).
   */
  conv(x: Value, w: Value, b: Value | null, o: ConvOptions = {}): Value {
    const r = x.shape.length - 2;
    const k = concreteShape(w.shape, 'conv weight').slice(2);
    const pads = o.pads ?? k.map(() => 0);
    const strides = o.strides ?? k.map(() => 1);
    if (r < 1 || r > 2 || w.shape.length !== r + 2 || x.shape[1] !== w.shape[1]) throw new Error(`conv: input ${shapeText(x.shape)}, weight ${shapeText(w.shape)}`);
    const spatial = x.shape.slice(2).map((d, i) => (typeof d === 'number' ? Math.floor((d + 2 * pads[i] - k[i]) / strides[i]) + 1 : d));
    const attrs = { kernel_shape: { ints: k }, pads: { ints: [...pads, ...pads] }, strides: { ints: strides } };
    return this.emit('Conv', b ? [x, w, b] : [x, w], attrs, [[x.shape[0], w.shape[0], ...spatial]], (gy, needs) => {
      const unitStride = strides.every((s) => s === 1);
      const patches = strides.every((s, i) => s === k[i]) && pads.every((p) => p === 0);
      if (!unitStride && !patches) throw new Error('conv: no backward rule for this stride and padding');
      let gx: Value | null = null;
      if (needs[0]) {
        if (patches && !unitStride) gx = this.convTranspose(gy, w, { strides });
        else {
          // The adjoint of a stride-1 convolution: the kernel with in/out swapped and flipped in space, padding k − 1 − p.
          let wt = this.transpose(w, [1, 0, ...k.map((_, i) => i + 2)]);
          const flip = k.map((_, i) => i + 2).filter((a) => k[a - 2] > 1);
          if (flip.length)
            wt = this.slice(
              wt,
              flip.map(() => -1),
              flip.map(() => -(2 ** 31)),
              flip,
              flip.map(() => -1),
            );
          gx = this.conv(gy, wt, null, { pads: k.map((ki, i) => ki - 1 - pads[i]) });
        }
      }
      const gw = needs[1] ? (patches ? this.patchWeightGrad(x, gy, k) : this.convWeightGrad(x, gy, k, pads)) : null;
      const gb = b && needs[2] ? this.reduceSum(gy, [0, ...k.map((_, i) => i + 2)]) : null;
      return [gx, gw, gb];
    })[0];
  }

  /**
   * The weight gradient of a stride-1 convolution: dW[o, c, κ] = Σ_{n, p} gy[n, o, p]·x_pad[n, c, p + κ],
   * as a convolution of the input with batch and channels swapped (x as [C, N, …]) by gy as a
   * kernel [O, N, …], transposed back.
   */
  protected convWeightGrad(x: Value, gy: Value, k: number[], pads: number[]): Value {
    if (k.length === 2) return this.convWeightGradIm2col(x, gy, k, pads);
    const sp = k.map((_, i) => i + 2);
    const xt = this.transpose(x, [1, 0, ...sp]);
    const gt = this.transpose(gy, [1, 0, ...sp]);
    return this.transpose(this.conv(xt, gt, null, { pads }), [1, 0, ...sp]);
  }

  /**
   * The weight gradient of a stride-1 2-D convolution through an im2col of the tensor with fewer
   * channels, built by one grouped convolution with a fixed one-hot kernel (onnxruntime's fastest
   * formulation measured here: 2–4× the direct ones at 32×32), then one batched MatMul over the
   * positions and a sum over the batch.
   * - Cout ≤ Cin: cols[n, (o, κ), u] = gy[n, o, u + p − κ] (u over x's positions) = Conv(gy, one-hot
   *   K[(o, κ), 0, k − 1 − κ], group Cout, pads k − 1 − p); dW[o, c, κ] = Σ_n cols · x.
   * - Cout > Cin: cols[n, (c, κ), i] = x_pad[n, c, i + κ] (i over gy's positions) = Conv(x, one-hot
   *   K[(c, κ), 0, κ], group Cin, pads p); dW[o, c, κ] = Σ_n cols · gy.
   */
  private convWeightGradIm2col(x: Value, gy: Value, k: number[], pads: number[]): Value {
    const [n, cin, h, w] = concreteShape(x.shape, 'conv');
    const [, cout, h2, w2] = concreteShape(gy.shape, 'conv');
    const taps = k[0] * k[1];
    const oneHot = (groups: number, flip: boolean) => {
      const data = new Float32Array(groups * taps * taps);
      for (let c = 0; c < groups; c++) {
        for (let a = 0; a < k[0]; a++) {
          for (let b = 0; b < k[1]; b++) {
            const row = c * taps + a * k[1] + b;
            const [ka, kb] = flip ? [k[0] - 1 - a, k[1] - 1 - b] : [a, b];
            data[row * taps + ka * k[1] + kb] = 1;
          }
        }
      }
      return this.constant(data, [groups * taps, 1, k[0], k[1]]);
    };
    const im2col = (v: Value, groups: number, flip: boolean, p: number[]) =>
      this.emit('Conv', [v, oneHot(groups, flip)], { kernel_shape: { ints: k }, pads: { ints: [...p, ...p] }, group: groups }, [[n, groups * taps, v === gy ? h : h2, v === gy ? w : w2]])[0];
    const positionsLast = (v: Value, c: number, hw: number) => this.transpose(this.reshape(v, [n, c, hw]), [0, 2, 1]);
    if (cout <= cin) {
      const cols = this.reshape(
        im2col(
          gy,
          cout,
          true,
          k.map((ki, i) => ki - 1 - pads[i]),
        ),
        [n, cout * taps, h * w],
      );
      const summed = this.reduceSum(this.matmul(cols, positionsLast(x, cin, h * w)), [0]); // [(o, κ), c]
      return this.reshape(this.transpose(this.reshape(summed, [cout, taps, cin]), [0, 2, 1]), [cout, cin, k[0], k[1]]);
    }
    const cols = this.reshape(im2col(x, cin, false, pads), [n, cin * taps, h2 * w2]);
    const summed = this.reduceSum(this.matmul(cols, positionsLast(gy, cout, h2 * w2)), [0]); // [(c, κ), o]
    return this.reshape(this.transpose(summed, [1, 0]), [cout, cin, k[0], k[1]]);
  }

  /** The weight gradient of a convolution with kernel = stride and no padding: one Gemm over all windows. */
  private patchWeightGrad(x: Value, gy: Value, k: number[]): Value {
    const [n, c, ...sp] = concreteShape(x.shape, 'conv');
    const o = gy.shape[1] as number;
    const cols = this.windows(x, k); // [C·Πk, N·Π(sp/k)]
    const gyT = this.reshape(this.transpose(gy, [1, 0, ...k.map((_, i) => i + 2)]), [o, n * sp.reduce((a, d, i) => a * (d / k[i]), 1)]);
    return this.reshape(this.gemm(gyT, cols, null, { transB: true }), [o, c, ...k]);
  }

  /** x [N, C, S…] cut into non-overlapping windows k: [C·Πk, N·Π(S/k)], rows (c, κ…) and columns (n, q…). */
  private windows(x: Value, k: number[]): Value {
    const [n, c, ...sp] = concreteShape(x.shape, 'conv');
    if (k.every((ki) => ki === 1)) return this.reshape(this.transpose(x, [1, 0, ...sp.map((_, i) => i + 2)]), [c, n * sp.reduce((a, b) => a * b, 1)]);
    if (k.length === 1) {
      const split = this.reshape(x, [n, c, sp[0] / k[0], k[0]]);
      return this.reshape(this.transpose(split, [1, 3, 0, 2]), [c * k[0], n * (sp[0] / k[0])]);
    }
    const split = this.reshape(x, [n, c, sp[0] / k[0], k[0], sp[1] / k[1], k[1]]);
    return this.reshape(this.transpose(split, [1, 3, 5, 0, 2, 4]), [c * k[0] * k[1], n * (sp[0] / k[0]) * (sp[1] / k[1])]);
  }

  /**
   * Transposed convolution with kernel = stride and no padding (each input position writes its
   * own window): x [N, C, S…], w [C, O, k…] → [N, O, S·k…].
   */
  convTranspose(x: Value, w: Value, { strides }: { strides: number[] }): Value {
    const k = concreteShape(w.shape, 'convTranspose weight').slice(2);
    if (k.some((ki, i) => ki !== strides[i]) || x.shape[1] !== w.shape[0])
      throw new Error(`convTranspose: input ${shapeText(x.shape)}, weight ${shapeText(w.shape)}, strides [${strides.join(', ')}] (kernel = stride only)`);
    const out = [x.shape[0], w.shape[1], ...x.shape.slice(2).map((d, i) => (typeof d === 'number' ? d * k[i] : d))];
    return this.emit('ConvTranspose', [x, w], { kernel_shape: { ints: k }, strides: { ints: k } }, [out], (gy, needs) => {
      const gx = needs[0] ? this.conv(gy, w, null, { strides: k }) : null;
      let gw: Value | null = null;
      if (needs[1]) {
        // dW[c, o, κ] = Σ_{n, q} x[n, c, q]·gy[n, o, q·k + κ]: x as [C, N·Q] times gy's windows [O·Πk, N·Q]ᵀ.
        const [n, c, ...sp] = concreteShape(x.shape, 'convTranspose');
        const q = n * sp.reduce((a, b) => a * b, 1);
        const xT = this.reshape(this.transpose(x, [1, 0, ...sp.map((_, i) => i + 2)]), [c, q]);
        gw = this.reshape(this.gemm(xT, this.windows(gy, k), null, { transB: true }), [c, w.shape[1] as number, ...k]);
      }
      return [gx, gw];
    })[0];
  }

  /** Average pooling with kernel = stride = k over the spatial axes of N × C × H × W. */
  avgPool(x: Value, k: number): Value {
    const out = [x.shape[0], x.shape[1], ...x.shape.slice(2).map((d) => (typeof d === 'number' ? d / k : d))];
    return this.emit('AveragePool', [x], { kernel_shape: { ints: [k, k] }, strides: { ints: [k, k] } }, [out], (gy) => [this.mul(this.upsample(gy, k), 1 / (k * k))])[0];
  }

  /** Nearest-neighbour upsampling by k (each pixel repeated k × k) of N × C × H × W. */
  upsample(x: Value, k: number): Value {
    const scales = this.constant(Float32Array.of(1, 1, k, k), [4]);
    const out = [x.shape[0], x.shape[1], ...x.shape.slice(2).map((d) => (typeof d === 'number' ? d * k : d))];
    const attrs = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
    return this.emit('Resize', [x, null, scales], attrs, [out], (gy) => [this.mul(this.avgPool(gy, k), k * k)])[0];
  }
}
