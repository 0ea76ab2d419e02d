import { OnnxGraphBuilder, type OnnxAttribute } from './graphBuilder.ts';
import type { NamedParams } from './params.ts';

/**
 * The core of the neural-network graph (graphTensor.ts, graphLinear.ts and graph.ts add the
 * ops): typed values with static shapes, nodes recorded in creation (= topological) order, each
 * with its backward rule, reverse-mode differentiation that appends the backward nodes to the
 * same graph, and emission as an ONNX model. A model is written once against {@link GraphCore}'s
 * subclass `Graph`; the forward-only export (parameters as initializers, a symbolic batch) and
 * the training step (parameters as inputs, loss and gradients as outputs) are two emissions of
 * graphs built by the same function.
 */

/** A dimension: a number, or a symbol (e.g. 'N') for a batch size left open in an exported model. */
export type Dim = number | string;

export type DType = 'float32' | 'int64';

/** A tensor in the graph. `shape` is known when the value is made (static shape inference). */
export interface Value {
  readonly id: number;
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly dtype: DType;
}

/**
 * A backward rule: given the gradient `gy` of the node's first output (same shape), returns the
 * gradient of each ONNX input (in input order; null where `needs[i]` is false or the input is
 * not differentiable). Rules build their nodes with the graph's own ops.
 */
export type Backward = (gy: Value, needs: readonly boolean[]) => (Value | null)[];

interface NodeRecord {
  op: string;
  inputs: (Value | null)[];
  outputs: Value[];
  attrs: Record<string, OnnxAttribute>;
  backward?: Backward;
}

interface ConstantRecord {
  value: Value;
  data: Float32Array | BigInt64Array;
  dims: number[];
}

/** The dims of a shape as numbers; an Error naming `what` if one is symbolic. */
export function concreteShape(shape: readonly Dim[], what: string): number[] {
  return shape.map((d) => {
    if (typeof d !== 'number') throw new Error(`${what}: shape [${shape.join(', ')}] has a symbolic dim (build training graphs with a fixed batch size)`);
    return d;
  });
}

export function shapeText(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/** Emission options of {@link GraphCore.toOnnx}. */
export interface EmitOptions {
  /** Graph name. */
  name: string;
  /** The model's outputs: ONNX output name → value, in output order. */
  outputs: [string, Value][];
  /** Parameter values: parameters become initializers. Without it they become graph inputs (after the data inputs, in declaration order). */
  paramData?: NamedParams;
  /** Model metadata_props. */
  metadata?: Record<string, string>;
}

export class GraphCore {
  private readonly nodes: NodeRecord[] = [];
  private readonly dataInputs: Value[] = [];
  private readonly paramList: Value[] = [];
  private readonly constants = new Map<number, ConstantRecord>();
  private readonly constantCache = new Map<string, Value>();
  /** Ids of the values that depend on a trainable value through differentiable nodes. */
  private readonly differentiable = new Set<number>();
  private nextId = 0;

  /** Declares a data input (fed at every run). `trainable` makes it differentiable, e.g. for gradient checks. */
  input(name: string, shape: readonly Dim[], dtype: DType = 'float32', { trainable = false }: { trainable?: boolean } = {}): Value {
    const v = this.value(name, shape, dtype);
    this.dataInputs.push(v);
    if (trainable) this.differentiable.add(v.id);
    return v;
  }

  /** Declares a trainable parameter (a graph input while training, an initializer when exported). */
  param(name: string, shape: readonly number[]): Value {
    if (this.paramList.some((p) => p.name === name)) throw new Error(`parameter ${name} declared twice`);
    const v = this.value(name, shape, 'float32');
    this.paramList.push(v);
    this.differentiable.add(v.id);
    return v;
  }

  /** The declared parameters, in declaration order. */
  params(): readonly Value[] {
    return this.paramList;
  }

  /** The declared data inputs, in declaration order. */
  inputs(): readonly Value[] {
    return this.dataInputs;
  }

  /** A constant tensor (an initializer). */
  constant(data: Float32Array | BigInt64Array, shape: readonly number[]): Value {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`constant: ${data.length} values for shape ${shapeText(shape)}`);
    const v = this.value(`const_${this.nextId}`, shape, data instanceof Float32Array ? 'float32' : 'int64');
    this.constants.set(v.id, { value: v, data, dims: [...shape] });
    return v;
  }

  /** A float32 scalar constant (shape []), one per distinct value. */
  scalar(x: number): Value {
    const key = `f${Math.fround(x)}`;
    let v = this.constantCache.get(key);
    if (!v) this.constantCache.set(key, (v = this.constant(Float32Array.of(x), [])));
    return v;
  }

  /** An int64 vector constant (shape [n]), one per distinct content: axes, shapes, pads, slice bounds. */
  ints(values: readonly number[]): Value {
    const key = `i${values.join(',')}`;
    let v = this.constantCache.get(key);
    if (!v)
      this.constantCache.set(
        key,
        (v = this.constant(
          BigInt64Array.from(values, (x) => BigInt(x)),
          [values.length],
        )),
      );
    return v;
  }

  /** The data of a constant, or undefined for other values. */
  constantData(v: Value): Float32Array | BigInt64Array | undefined {
    return this.constants.get(v.id)?.data;
  }

  /** Whether gradients flow to `v` from a trainable value. */
  isDifferentiable(v: Value): boolean {
    return this.differentiable.has(v.id);
  }

  /**
   * Appends a node and returns its outputs. `backward` (for the first output) makes the outputs
   * differentiable when an input is; a node without one stops gradients.
   */
  protected emit(op: string, inputs: (Value | null)[], attrs: Record<string, OnnxAttribute>, outShapes: (readonly Dim[])[], backward?: Backward, outTypes?: DType[]): Value[] {
    const outputs = outShapes.map((s, i) => this.value(`${op.toLowerCase()}_${this.nextId}`, s, outTypes?.[i] ?? 'float32'));
    this.nodes.push({ op, inputs, outputs, attrs, backward });
    if (backward && inputs.some((x) => x !== null && this.differentiable.has(x.id))) this.differentiable.add(outputs[0].id);
    return outputs;
  }

  private value(name: string, shape: readonly Dim[], dtype: DType): Value {
    return { id: this.nextId++, name, shape: [...shape], dtype };
  }

  /**
   * Reverse-mode differentiation: appends the backward nodes of every node between `wrt` and
   * `loss` (a scalar: shape [] or [1]) and returns d loss / d w for each w (a zero constant where
   * the loss does not depend on w). Gradients of a value used several times are summed.
   */
  gradients(loss: Value, wrt: readonly Value[]): Value[] {
    if (loss.shape.length > 1 || (loss.shape.length === 1 && loss.shape[0] !== 1)) throw new Error(`gradients: the loss must be a scalar, got shape ${shapeText(loss.shape)}`);
    const pending = new Map<number, Value[]>();
    const add = (v: Value, g: Value) => {
      const list = pending.get(v.id);
      if (list) list.push(g);
      else pending.set(v.id, [g]);
    };
    add(loss, this.constant(new Float32Array(Math.max(1, loss.shape.length)).fill(1), loss.shape as number[]));
    const count = this.nodes.length; // backward nodes are appended while walking: visit the forward ones only
    for (let k = count - 1; k >= 0; k--) {
      const node = this.nodes[k];
      const gys = pending.get(node.outputs[0].id);
      if (!gys || !node.backward) continue;
      pending.delete(node.outputs[0].id);
      const gy = this.sumAll(gys);
      const needs = node.inputs.map((x) => x !== null && this.differentiable.has(x.id));
      if (!needs.some(Boolean)) continue;
      const grads = node.backward(gy, needs);
      node.inputs.forEach((x, i) => {
        if (x === null || !needs[i]) return;
        const g = grads[i];
        if (!g) throw new Error(`${node.op}: backward rule returned no gradient for input ${i}`);
        if (g.shape.join(',') !== x.shape.join(',')) throw new Error(`${node.op}: gradient of input ${i} has shape ${shapeText(g.shape)}, expected ${shapeText(x.shape)}`);
        add(x, g);
      });
    }
    return wrt.map((w) => {
      const gs = pending.get(w.id);
      return gs ? this.sumAll(gs) : this.constant(new Float32Array(concreteShape(w.shape, 'gradients').reduce((a, b) => a * b, 1)), w.shape as number[]);
    });
  }

  private sumAll(values: Value[]): Value {
    if (values.length === 1) return values[0];
    return this.emit('Sum', values, {}, [values[0].shape])[0];
  }

  /**
   * Serialises the part of the graph that `outputs` need as an ONNX model (opset 17). Data inputs
   * are declared in declaration order (all of them, used or not, so a model keeps its interface);
   * parameters become initializers with `paramData` (those used), else inputs after the data
   * inputs (all of them, in declaration order).
   */
  toOnnx(o: EmitOptions): Uint8Array {
    const b = new OnnxGraphBuilder(o.name, { opset: 17 });
    for (const [k, v] of Object.entries(o.metadata ?? {})) b.metadata(k, v);
    const producer = new Map<number, NodeRecord>();
    for (const n of this.nodes) for (const out of n.outputs) producer.set(out.id, n);
    // Walk back from the outputs to find the nodes and leaves they need.
    const needed = new Set<NodeRecord>();
    const used = new Set<number>();
    const stack = o.outputs.map(([, v]) => v);
    while (stack.length) {
      const v = stack.pop() as Value;
      if (used.has(v.id)) continue;
      used.add(v.id);
      const n = producer.get(v.id);
      if (n && !needed.has(n)) {
        needed.add(n);
        for (const x of n.inputs) if (x) stack.push(x);
      }
    }
    for (const v of this.dataInputs) b.input(v.name, v.dtype, [...v.shape]);
    for (const p of this.paramList) {
      if (!o.paramData) b.input(p.name, 'float32', [...p.shape]);
      else if (used.has(p.id)) {
        const data = o.paramData[p.name];
        if (!data) throw new Error(`toOnnx: no data for parameter ${p.name}`);
        b.initializer(p.name, data.data, p.shape as number[]);
      }
    }
    for (const c of this.constants.values()) if (used.has(c.value.id)) b.initializer(c.value.name, c.data, c.dims);
    for (const n of this.nodes) {
      if (needed.has(n))
        b.node(
          n.op,
          n.inputs.map((x) => (x ? x.name : '')),
          n.outputs.map((x) => x.name),
          n.attrs,
        );
    }
    for (const [name, v] of o.outputs) {
      b.node('Identity', [v.name], [name]);
      b.output(name, v.dtype, [...v.shape]);
    }
    return b.toBytes();
  }
}
