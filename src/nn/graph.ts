import { concreteShape, GraphCore, shapeText, type Dim, type Value } from './graphCore.ts';

export type { Dim, Value } from './graphCore.ts';

/** A value or a number (a float32 scalar constant). */
export type Operand = Value | number;

/** Options of a convolution: per spatial axis (1-D or 2-D); group 1, dilation 1. */
export interface ConvOptions {
  /** Symmetric zero padding per spatial axis (default 0). */
  pads?: number[];
  /** Strides per spatial axis (default 1). */
  strides?: number[];
}

/**
 * Neural-network ops on ONNX (opset 17), each with its shape rule and its backward rule written
 * once, next to it. Shapes are static; a symbolic dim (the batch of an exported model) passes
 * through every op that does not need its value. Backward rules need concrete shapes: training
 * graphs are built for a fixed batch.
 *
 * Layouts follow ONNX (= PyTorch): images N × C × H × W, sequences N × C × L, conv weights
 * [out, in, k…], ConvTranspose weights [in, out, k…], Gemm B [out, in] with transB.
 */
export class Graph extends GraphCore {
  private operand(x: Operand): Value {
    return typeof x === 'number' ? this.scalar(x) : x;
  }

  // ---- elementwise -------------------------------------------------------------------------

  /** a + b (NumPy broadcasting). */
  add(a: Operand, b: Operand): Value {
    const [x, y] = [this.operand(a), this.operand(b)];
    return this.emit('Add', [x, y], {}, [broadcastShapes(x.shape, y.shape)], (gy, needs) => [needs[0] ? this.unbroadcast(gy, x.shape) : null, needs[1] ? this.unbroadcast(gy, y.shape) : null])[0];
  }

  /** a − b (NumPy broadcasting). */
  sub(a: Operand, b: Operand): Value {
    const [x, y] = [this.operand(a), this.operand(b)];
    return this.emit('Sub', [x, y], {}, [broadcastShapes(x.shape, y.shape)], (gy, needs) => [
      needs[0] ? this.unbroadcast(gy, x.shape) : null,
      needs[1] ? this.unbroadcast(this.neg(gy), y.shape) : null,
    ])[0];
  }

  /** a · b elementwise (NumPy broadcasting). */
  mul(a: Operand, b: Operand): Value {
    const [x, y] = [this.operand(a), this.operand(b)];
    return this.emit('Mul', [x, y], {}, [broadcastShapes(x.shape, y.shape)], (gy, needs) => [
      needs[0] ? this.unbroadcast(this.mul(gy, y), x.shape) : null,
      needs[1] ? this.unbroadcast(this.mul(gy, x), y.shape) : null,
    ])[0];
  }

  /** a / b elementwise (NumPy broadcasting). Backward: da = g/b, db = −g·(a/b)/b. */
  div(a: Operand, b: Operand): Value {
    const [x, y] = [this.operand(a), this.operand(b)];
    const out: Value = this.emit('Div', [x, y], {}, [broadcastShapes(x.shape, y.shape)], (gy, needs) => {
      const gOverB = this.div(gy, y);
      return [needs[0] ? this.unbroadcast(gOverB, x.shape) : null, needs[1] ? this.unbroadcast(this.neg(this.mul(gOverB, out)), y.shape) : null];
    })[0];
    return out;
  }

  neg(x: Value): Value {
    return this.emit('Neg', [x], {}, [x.shape], (gy) => [this.neg(gy)])[0];
  }

  /** σ(x); backward g·y·(1 − y). */
  sigmoid(x: Value): Value {
    const y: Value = this.emit('Sigmoid', [x], {}, [x.shape], (gy) => [this.mul(gy, this.mul(y, this.sub(1, y)))])[0];
    return y;
  }

  /** tanh(x); backward g·(1 − y²). */
  tanh(x: Value): Value {
    const y: Value = this.emit('Tanh', [x], {}, [x.shape], (gy) => [this.mul(gy, this.sub(1, this.mul(y, y)))])[0];
    return y;
  }

  /** max(x, 0); backward g·sign(y) (1 where x > 0). */
  relu(x: Value): Value {
    const y: Value = this.emit('Relu', [x], {}, [x.shape], (gy) => [this.mul(gy, this.emit('Sign', [y], {}, [y.shape])[0])])[0];
    return y;
  }

  /** eˣ; backward g·y. */
  exp(x: Value): Value {
    const y: Value = this.emit('Exp', [x], {}, [x.shape], (gy) => [this.mul(gy, y)])[0];
    return y;
  }

  /** ln x; backward g/x. */
  log(x: Value): Value {
    return this.emit('Log', [x], {}, [x.shape], (gy) => [this.div(gy, x)])[0];
  }

  /** √x; backward g/(2y). */
  sqrt(x: Value): Value {
    const y: Value = this.emit('Sqrt', [x], {}, [x.shape], (gy) => [this.div(this.mul(gy, 0.5), y)])[0];
    return y;
  }

  /** erf(x); backward g·(2/√π)·e^(−x²). */
  erf(x: Value): Value {
    return this.emit('Erf', [x], {}, [x.shape], (gy) => [this.mul(gy, this.mul(this.exp(this.neg(this.mul(x, x))), 2 / Math.sqrt(Math.PI)))])[0];
  }

  /** cos x (no gradient: used on data such as time embeddings). */
  cos(x: Value): Value {
    return this.emit('Cos', [x], {}, [x.shape])[0];
  }

  /** sin x (no gradient). */
  sin(x: Value): Value {
    return this.emit('Sin', [x], {}, [x.shape])[0];
  }

  /** ⌊x⌋ (no gradient: used on data, e.g. time indices). */
  floor(x: Value): Value {
    return this.emit('Floor', [x], {}, [x.shape])[0];
  }

  /** x clipped to [lo, hi] (no gradient). */
  clip(x: Value, lo: number, hi: number): Value {
    return this.emit('Clip', [x, this.scalar(lo), this.scalar(hi)], {}, [x.shape])[0];
  }

  /** x as int64 (for indices; no gradient). */
  toInt64(x: Value): Value {
    return this.emit('Cast', [x], { to: 7 /* TensorProto INT64 */ }, [x.shape], undefined, ['int64'])[0];
  }

  /** Rows of a 1-D table at int64 indices: table[idx] with idx's shape (no gradient: tables are constants). */
  gather(table: Value, indices: Value): Value {
    if (table.shape.length !== 1 || indices.dtype !== 'int64') throw new Error(`gather: table ${shapeText(table.shape)}, ${indices.dtype} indices`);
    return this.emit('Gather', [table, indices], { axis: 0 }, [indices.shape])[0];
  }

  /** SiLU (swish): x·σ(x). */
  silu(x: Value): Value {
    return this.mul(x, this.sigmoid(x));
  }

  /** Exact GELU (PyTorch's default): x·(1 + erf(x/√2))/2. */
  gelu(x: Value): Value {
    return this.mul(this.mul(x, 0.5), this.add(1, this.erf(this.mul(x, Math.SQRT1_2))));
  }

  // ---- shape ------------------------------------------------------------------------------

  /** Reshape with ONNX's conventions: 0 copies the input dim at that index, −1 is inferred. */
  reshape(x: Value, shape: readonly number[]): Value {
    const out = reshapeShape(x.shape, shape);
    return this.emit('Reshape', [x, this.ints(shape)], {}, [out], (gy) => [this.reshape(gy, concreteShape(x.shape, 'reshape'))])[0];
  }

  transpose(x: Value, perm: readonly number[]): Value {
    if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw new Error(`transpose: perm [${perm.join(', ')}] for shape ${shapeText(x.shape)}`);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return this.emit('Transpose', [x], { perm: { ints: [...perm] } }, [perm.map((p) => x.shape[p])], (gy) => [this.transpose(gy, inverse)])[0];
  }

  /** Inserts size-1 axes (positions in the output). */
  unsqueeze(x: Value, axes: readonly number[]): Value {
    const rank = x.shape.length + axes.length;
    const norm = axes.map((a) => (a < 0 ? a + rank : a));
    const out: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : x.shape[k++]);
    return this.emit('Unsqueeze', [x, this.ints(axes)], {}, [out], (gy) => [this.reshape(gy, concreteShape(x.shape, 'unsqueeze'))])[0];
  }

  /** Concatenation along `axis`; backward slices the gradient back into the pieces. */
  concat(xs: readonly Value[], axis: number): Value {
    const rank = xs[0].shape.length;
    const ax = axis < 0 ? axis + rank : axis;
    const sizes = xs.map((x) => x.shape[ax]);
    for (const x of xs) {
      if (x.shape.length !== rank || x.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) throw new Error(`concat: shapes ${xs.map((v) => shapeText(v.shape)).join(', ')} along axis ${ax}`);
    }
    const total = sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((a, b) => a + b, 0) : `concat`;
    const out = xs[0].shape.map((d, i) => (i === ax ? total : d));
    return this.emit('Concat', [...xs], { axis: ax }, [out], (gy, needs) => {
      let start = 0;
      return xs.map((x, i) => {
        const size = x.shape[ax] as number;
        const g = needs[i] ? this.slice(gy, [start], [start + size], [ax]) : null;
        start += size;
        return g;
      });
    })[0];
  }

  /** Slice with step 1 (or −1 to reverse an axis); backward (step 1 only) zero-pads the gradient back. */
  slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
    const out = [...x.shape];
    const st = steps ?? axes.map(() => 1);
    const bounds: [number, number][] = [];
    axes.forEach((a, i) => {
      const n = x.shape[a];
      if (typeof n !== 'number') throw new Error('slice: along a symbolic axis');
      if (st[i] === 1) {
        const s = Math.max(0, Math.min(n, starts[i] < 0 ? starts[i] + n : starts[i]));
        const e = Math.max(s, Math.min(n, ends[i] < 0 ? ends[i] + n : ends[i]));
        out[a] = e - s;
        bounds.push([s, e]);
      } else if (st[i] === -1 && starts[i] === -1 && ends[i] <= -n - 1) {
        bounds.push([0, n]); // a whole-axis reversal
      } else throw new Error(`slice: unsupported step ${st[i]}`);
    });
    const inputs = [x, this.ints(starts), this.ints(ends), this.ints(axes), ...(steps ? [this.ints(steps)] : [])];
    return this.emit('Slice', inputs, {}, [out], (gy) => {
      if (st.some((s) => s !== 1)) throw new Error('slice: no backward rule for reversed axes');
      const rank = x.shape.length;
      const pads = new Array(2 * rank).fill(0);
      axes.forEach((a, i) => {
        pads[a] = bounds[i][0];
        pads[rank + a] = (x.shape[a] as number) - bounds[i][1];
      });
      return [this.pad(gy, pads)];
    })[0];
  }

  /** Zero padding, ONNX order [begin of each axis…, end of each axis…]; backward slices the gradient. */
  pad(x: Value, pads: readonly number[]): Value {
    const rank = x.shape.length;
    if (pads.length !== 2 * rank || pads.some((p) => p < 0)) throw new Error(`pad: pads [${pads.join(', ')}] for rank ${rank}`);
    const out = x.shape.map((d, i) => (pads[i] === 0 && pads[rank + i] === 0 ? d : (d as number) + pads[i] + pads[rank + i]));
    return this.emit('Pad', [x, this.ints(pads)], { mode: 'constant' }, [out], (gy) => {
      const axes = x.shape.map((_, i) => i).filter((i) => pads[i] !== 0 || pads[rank + i] !== 0);
      return [
        this.slice(
          gy,
          axes.map((a) => pads[a]),
          axes.map((a) => pads[a] + (x.shape[a] as number)),
          axes,
        ),
      ];
    })[0];
  }

  /** Broadcasts x to `shape` (used by reduction backward rules). */
  expand(x: Value, shape: readonly number[]): Value {
    return this.emit('Expand', [x, this.ints(shape)], {}, [broadcastShapes(x.shape, shape)], (gy) => [this.unbroadcast(gy, x.shape)])[0];
  }

  // ---- reductions -------------------------------------------------------------------------

  /** Σ over `axes`; backward broadcasts the gradient back. */
  reduceSum(x: Value, axes: readonly number[], keepdims = false): Value {
    const ax = axes.map((a) => (a < 0 ? a + x.shape.length : a));
    return this.emit('ReduceSum', [x, this.ints(ax)], { keepdims: keepdims ? 1 : 0 }, [reducedShape(x.shape, ax, keepdims)], (gy) => [this.unreduce(gy, x, ax, keepdims)])[0];
  }

  /** Mean over `axes`; backward broadcasts the gradient back, divided by the count. */
  reduceMean(x: Value, axes: readonly number[], keepdims = false): Value {
    const ax = axes.map((a) => (a < 0 ? a + x.shape.length : a));
    return this.emit('ReduceMean', [x], { axes: { ints: ax }, keepdims: keepdims ? 1 : 0 }, [reducedShape(x.shape, ax, keepdims)], (gy) => {
      const count = ax.reduce((c, a) => c * (x.shape[a] as number), 1);
      return [this.unreduce(this.mul(gy, 1 / count), x, ax, keepdims)];
    })[0];
  }

  /** Mean of every element: a scalar (shape []). */
  mean(x: Value): Value {
    return this.reduceMean(
      x,
      x.shape.map((_, i) => i),
      false,
    );
  }

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

  // ---- normalisation and softmax ----------------------------------------------------------

  /**
   * LayerNorm over the last axis: y = γ ⊙ (x − μ)/√(σ² + eps) + β (γ, β [C] or null for none).
   * Backward with x̂ the normalised input and g = gy ⊙ γ:
   * dx = (g − mean g − x̂·mean(g ⊙ x̂))/√(σ² + eps), dγ = Σ gy ⊙ x̂, dβ = Σ gy.
   */
  layerNorm(x: Value, gamma: Value | null, beta: Value | null, eps: number): Value {
    const rank = x.shape.length;
    const c = x.shape[rank - 1] as number;
    const scale = gamma ?? this.ones(c);
    const stat = [...x.shape.slice(0, -1), 1];
    const inputs = beta ? [x, scale, beta] : [x, scale];
    const outs = this.emit('LayerNormalization', inputs, { axis: -1, epsilon: eps }, [x.shape, stat, stat], (gy, needs) => {
      const [, mean, rstd] = outs;
      const xhat = this.mul(this.sub(x, mean), rstd);
      const lead = x.shape.slice(0, -1).map((_, i) => i);
      const g = gamma ? this.mul(gy, gamma) : gy;
      const gx = needs[0] ? this.mul(this.sub(this.sub(g, this.reduceMean(g, [-1], true)), this.mul(xhat, this.reduceMean(this.mul(g, xhat), [-1], true))), rstd) : null;
      return [gx, gamma && needs[1] ? this.reduceSum(this.mul(gy, xhat), lead) : null, beta && needs[2] ? this.reduceSum(gy, lead) : null];
    });
    return outs[0];
  }

  /**
   * PyTorch `GroupNorm(G, C)` on N × C × …: channels split into G consecutive groups, each
   * normalised over its channels and positions (biased variance, eps), then γ ⊙ x̂ + β per channel.
   */
  groupNorm(x: Value, gamma: Value, beta: Value, groups: number, eps: number): Value {
    const c = x.shape[1] as number;
    const normed = this.layerNorm(this.reshape(x, [0, groups, -1]), null, null, eps);
    const back = this.reshape(normed, [0, ...x.shape.slice(1).map((d) => d as number)]);
    const perChannel = [c, ...x.shape.slice(2).map(() => 1)];
    return this.add(this.mul(back, this.reshape(gamma, perChannel)), this.reshape(beta, perChannel));
  }

  /** Softmax along `axis`; backward y ⊙ (g − Σ g ⊙ y). */
  softmax(x: Value, axis: number): Value {
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const y: Value = this.emit('Softmax', [x], { axis: ax }, [x.shape], (gy) => [this.mul(y, this.sub(gy, this.reduceSum(this.mul(gy, y), [ax], true)))])[0];
    return y;
  }

  /** Log-softmax along `axis`; backward g − e^y ⊙ Σ g. */
  logSoftmax(x: Value, axis: number): Value {
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const y: Value = this.emit('LogSoftmax', [x], { axis: ax }, [x.shape], (gy) => [this.sub(gy, this.mul(this.exp(y), this.reduceSum(gy, [ax], true)))])[0];
    return y;
  }

  // ---- helpers of the backward rules ------------------------------------------------------

  private readonly onesCache = new Map<number, Value>();

  /** A float32 constant [n] of ones, one per size (shared by every LayerNorm without γ). */
  private ones(n: number): Value {
    let v = this.onesCache.get(n);
    if (!v) this.onesCache.set(n, (v = this.constant(new Float32Array(n).fill(1), [n])));
    return v;
  }

  /** Sums a broadcast gradient back to `shape`: over leading axes and axes where `shape` has 1. */
  unbroadcast(g: Value, shape: readonly Dim[]): Value {
    if (g.shape.join(',') === shape.join(',')) return g;
    const lead = g.shape.length - shape.length;
    const axes = g.shape.map((_, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1));
    const summed = axes.length ? this.reduceSum(g, axes, true) : g;
    return summed.shape.join(',') === shape.join(',') ? summed : this.reshape(summed, concreteShape(shape, 'unbroadcast'));
  }

  /** The gradient of a reduction over `axes` broadcast back to x's shape. */
  private unreduce(gy: Value, x: Value, axes: number[], keepdims: boolean): Value {
    const full = concreteShape(x.shape, 'reduce');
    const kept = keepdims
      ? gy
      : this.reshape(
          gy,
          full.map((d, i) => (axes.includes(i) ? 1 : d)),
        );
    return this.expand(kept, full);
  }
}

/** NumPy broadcasting of two shapes; an Error when they do not broadcast. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
    const db = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`shapes ${shapeText(a)} and ${shapeText(b)} do not broadcast`);
  }
  return out;
}

function reducedShape(shape: readonly Dim[], axes: number[], keepdims: boolean): Dim[] {
  return keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** ONNX Reshape's output shape (0 copies, −1 inferred); symbolic input dims must be copied by 0. */
function reshapeShape(input: readonly Dim[], target: readonly number[]): Dim[] {
  const out: Dim[] = target.map((d, i) => (d === 0 ? input[i] : d));
  const copied = new Set(target.map((d, i) => (d === 0 ? i : -1)));
  if (input.some((d, i) => typeof d !== 'number' && !copied.has(i))) throw new Error(`reshape ${shapeText(input)} → [${target.join(', ')}]: a symbolic dim must be kept with 0`);
  const size = (dims: readonly Dim[], skip: Set<number>) => dims.reduce((a: number, d, i) => (skip.has(i) || d === -1 ? a : a * (d as number)), 1);
  const known = size(out, copied);
  const total = size(input, copied);
  const free = out.indexOf(-1);
  if (free >= 0) out[free] = total / known;
  if ((free >= 0 && !Number.isInteger(out[free])) || size(out, copied) !== total) throw new Error(`reshape ${shapeText(input)} → [${target.join(', ')}]: sizes differ`);
  return out;
}
