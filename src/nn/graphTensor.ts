import { concreteShape, GraphCore, shapeText, type Dim, type Value } from './graphCore.ts';

/** A value or a number (a float32 scalar constant). */
export type Operand = Value | number;

/**
 * The tensor ops of the graph (graph.ts's `Graph` builds on them): elementwise maths, shape ops
 * and reductions, with the broadcasting helpers every backward rule uses. Split from the
 * convolutions and normalisations only for size: each op still has its shape rule and backward
 * rule next to it.
 */
export class TensorGraph extends GraphCore {
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

  // ---- helpers of the backward rules ------------------------------------------------------

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
