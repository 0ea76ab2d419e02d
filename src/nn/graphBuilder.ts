import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';

/** Element types the builder writes. */
export type OnnxElemType = 'float32' | 'int64' | 'int32';

/**
 * A node attribute: an integer becomes INT, any other number FLOAT, a number array INTS when all
 * its entries are integers (else FLOATS), a string STRING. `{ floats }` / `{ ints }` force the
 * list type, e.g. `{ floats: [1, 2] }` for float values that happen to be whole.
 */
export type OnnxAttribute = number | number[] | string | { floats: number[] } | { ints: number[] };

const ELEM: Record<OnnxElemType, DataType> = { float32: DataType.FLOAT, int64: DataType.INT64, int32: DataType.INT32 };

function valueInfo(name: string, elemType: OnnxElemType, dims: (number | string)[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType: ELEM[elemType],
          shape: {
            dim: dims.map((d) => (typeof d === 'string' ? { value: { case: 'dimParam' as const, value: d } } : { value: { case: 'dimValue' as const, value: BigInt(d) } })),
          },
        },
      },
    },
  });
}

function attribute(name: string, v: OnnxAttribute): AttributeProto {
  if (typeof v === 'string') return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(v) });
  if (typeof v === 'number') {
    return Number.isInteger(v) ? create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(v) }) : create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: v });
  }
  if (Array.isArray(v)) return attribute(name, v.every(Number.isInteger) ? { ints: v } : { floats: v });
  if ('ints' in v) return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: v.ints.map((x) => BigInt(x)) });
  return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: v.floats });
}

/**
 * A minimal builder of ONNX models (default domain only). Nodes must be added in topological
 * order, as ONNX requires. Every method but {@link OnnxGraphBuilder.toBytes} returns `this`.
 */
export class OnnxGraphBuilder {
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly metadataProps: { key: string; value: string }[] = [];
  private readonly opset: number;

  constructor(
    private readonly graphName: string,
    { opset = 17 }: { opset?: number } = {},
  ) {
    this.opset = opset;
  }

  /** Declares a graph input; a string dim is symbolic (e.g. 'N'). */
  input(name: string, elemType: OnnxElemType, dims: (number | string)[]): this {
    this.inputs.push(valueInfo(name, elemType, dims));
    return this;
  }

  /** Declares a graph output; outputs keep the order of the calls. */
  output(name: string, elemType: OnnxElemType, dims: (number | string)[]): this {
    this.outputs.push(valueInfo(name, elemType, dims));
    return this;
  }

  /** Adds a constant tensor (row-major, stored as little-endian raw_data). */
  initializer(name: string, data: Float32Array | BigInt64Array | Int32Array, dims: number[]): this {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`initializer ${name}: ${data.length} values for dims [${dims.join(', ')}]`);
    const dataType = data instanceof Float32Array ? DataType.FLOAT : data instanceof BigInt64Array ? DataType.INT64 : DataType.INT32;
    // Copy through a DataView so the bytes are little-endian whatever the host's order.
    const bytes = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < data.length; i++) {
      if (data instanceof Float32Array) view.setFloat32(4 * i, data[i], true);
      else if (data instanceof BigInt64Array) view.setBigInt64(8 * i, data[i], true);
      else view.setInt32(4 * i, data[i], true);
    }
    this.initializers.push(create(TensorProtoSchema, { name, dataType, dims: dims.map((d) => BigInt(d)), rawData: bytes }));
    return this;
  }

  /** Appends a node of the default ONNX domain. */
  node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, OnnxAttribute> = {}): this {
    const name = `${opType}_${this.nodes.length}`;
    const attrs = Object.entries(attributes).map(([k, v]) => attribute(k, v));
    this.nodes.push(create(NodeProtoSchema, { name, opType, input: inputs, output: outputs, attribute: attrs }));
    return this;
  }

  /** Adds a model-level metadata_props entry (key → value), e.g. the configuration a graph was built from. */
  metadata(key: string, value: string): this {
    this.metadataProps.push({ key, value });
    return this;
  }

  /** Serialises the model (IR version 8, producer 'hierdiff') to ONNX protobuf bytes. */
  toBytes(): Uint8Array {
    const model = create(ModelProtoSchema, {
      irVersion: 8n,
      producerName: 'hierdiff',
      opsetImport: [{ domain: '', version: BigInt(this.opset) }],
      metadataProps: this.metadataProps,
      graph: create(GraphProtoSchema, {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return toBinary(ModelProtoSchema, model);
  }
}
