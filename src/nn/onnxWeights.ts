import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { ParamError } from '../core/errors.ts';
import type { NamedParams } from './params.ts';

/** ONNX TensorProto.DataType.FLOAT. */
const FLOAT = 1;

/**
 * The float32 parameters of an ONNX model that one of our exporters wrote (graph.toOnnx with
 * `paramData`, as imageUnetToOnnx and digitClassifierToOnnx do: every parameter is an initializer
 * of its own name, raw little-endian float32 data), read back in the given names and PyTorch shapes. Used to check that a model file
 * is what the exporter makes of its own weights. ParamError (param `model`) for a missing
 * initializer or one of another size.
 */
export function readOnnxWeights(bytes: Uint8Array, shapes: [string, number[]][]): NamedParams {
  const model = fromBinary(ModelProtoSchema, bytes);
  const inits = new Map((model.graph?.initializer ?? []).map((t) => [t.name, t]));
  const out: NamedParams = {};
  for (const [name, shape] of shapes) {
    const t = inits.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!t || t.dataType !== FLOAT || t.rawData.length !== 4 * size) throw new ParamError('model', `the model has no float32 initializer ${name} of ${size} values`);
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(t.rawData);
    out[name] = { shape: [...shape], data };
  }
  return out;
}
