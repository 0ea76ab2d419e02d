import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema } from 'onnx-buf';
import { checkInt, ParamError } from '../core/errors.ts';
import { floatTensor } from '../nn/runtime.ts';
import { modelInputName, OnnxModel, openOnnxSession, tensorDims, type Device, type InferenceSession, type TimeInput } from '../nn/session.ts';
import { LEARN_PROCESSES, type LearnProcess } from './bpUnet.ts';

/** What {@link OnnxRhmDenoiser} expects, for messages about a file that is something else. */
const RHM_MODEL = 'an RHM denoiser takes x (one-hot N×v×d) and t (t/T)';
const TIME_INPUT: TimeInput = { param: 'time-name', fallback: 't', dataRole: 'token input', kind: RHM_MODEL, besides: (input, time) => `besides "${input}" and "${time}"` };
import type { LogitsModel } from './logitsModel.ts';

export interface RhmDenoiserOptions {
  /** One-hot input, float32 [N, v, d] (default 'x'). */
  inputName?: string;
  /** Time input, float32 [N] holding t/T (default 't'). */
  timeName?: string;
  /** Output to read, [N, v, d] logits (default: the model's first output). */
  outputName?: string;
  /** Largest batch one session.run is given; logits() splits bigger calls. At most a static batch dim. */
  batchSize: number;
  device?: Device;
  /** The process the model denoises; must agree with the model's `process` metadata when it has one. Default: the metadata's, else 'uniform'. */
  process?: LearnProcess;
  /** v, for a model whose input leaves it symbolic and has no `vocab` metadata; must agree with them otherwise. */
  vocab?: number;
  /** d, for a model whose input leaves it symbolic and has no `length` metadata; must agree with them otherwise. */
  length?: number;
}

/** Field number of ModelProto.metadata_props in onnx.proto. */
const METADATA_PROPS_FIELD = 14;

/**
 * The model-level metadata_props of an ONNX file, as key → value.
 *
 * Scans only the top level of the ModelProto wire format and decodes the metadata entries, so the
 * weights (most of the file) are skipped over rather than decoded into objects. Returns {} for
 * bytes that are not a well-formed protobuf (onnxruntime has already judged the file by then).
 */
export function readOnnxMetadata(path: string): Record<string, string> {
  const bytes = readFileSync(path);
  const out: Record<string, string> = {};
  let pos = 0;
  // Varints as Numbers (not 32-bit shifts): field lengths of large models exceed 2^31.
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= bytes.length) throw new RangeError('truncated varint');
      const b = bytes[pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
  };
  try {
    while (pos < bytes.length) {
      const key = varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const len = varint();
        if (pos + len > bytes.length) throw new RangeError('truncated field');
        if (field === METADATA_PROPS_FIELD) {
          const entry = fromBinary(StringStringEntryProtoSchema, bytes.subarray(pos, pos + len));
          out[entry.key] = entry.value;
        }
        pos += len;
      } else throw new RangeError(`wire type ${wire}`);
    }
  } catch {
    return {};
  }
  return out;
}

/**
 * An RHM denoiser in an ONNX file: inputs `x` (one-hot, float32 [N, v, d]) and `t` (float32 [N],
 * t/T), first output the [N, v, d] logits of x̂_0. This is both what `bpUnetToOnnx`
 * (bpUnetOnnx.ts) writes and what `torch.onnx.export(model, (x, t), path, input_names=['x', 't'])`
 * writes for the published PyTorch bpUNet (other names: the name options), so a model trained
 * elsewhere is evaluated by the same code as ours.
 *
 * v and d come from the input's static dims, else from the `vocab`/`length` metadata, else from
 * the options; the process from the `process` metadata, else the options, else 'uniform' (a
 * plain torch export carries no metadata: pass `process: 'mask'` for a masked model).
 */
export class OnnxRhmDenoiser extends OnnxModel implements LogitsModel {
  readonly inputName: string;
  readonly timeName: string;
  readonly outputName: string;
  readonly vocab: number;
  readonly length: number;
  readonly process: LearnProcess;

  /**
   * Opens the model. Throws one-line ParamErrors naming the file ('model': missing, not ONNX,
   * extra inputs, wrong dims), a name not in the model ('input-name', 'time-name',
   * 'output-name', listing the model's names), 'vocab'/'length'/'process' when unknown or
   * contradicting the model, 'batch-size', or 'device'.
   */
  static async open(path: string, options: RhmDenoiserOptions): Promise<OnnxRhmDenoiser> {
    const session = await openOnnxSession(path, 'model', options.device ?? 'cpu');
    try {
      return new OnnxRhmDenoiser(session, path, options, readOnnxMetadata(path));
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  private constructor(session: InferenceSession, path: string, o: RhmDenoiserOptions, meta: Record<string, string>) {
    const inputName = modelInputName('input-name', o.inputName, 'x', session.inputNames, path, RHM_MODEL);
    super(session, inputName, o.batchSize, 'model', path);
    this.inputName = inputName;
    ({ time: this.timeName, output: this.outputName } = this.denoiserNames(inputName, TIME_INPUT, o.timeName, o.outputName));

    const xType = session.inputMetadata.find((m) => m.name === inputName);
    if (xType?.isTensor && xType.type !== 'float32') throw this.bad(`input "${inputName}" is ${xType.type}, expected float32`);
    const tMeta = session.inputMetadata.find((m) => m.name === this.timeName);
    if (tMeta?.isTensor && tMeta.type !== 'float32') {
      throw new ParamError('time-name', `invalid --time-name "${this.timeName}" (its type is ${tMeta.type}; expected float32 t/T)`);
    }
    this.checkTimeDims('time-name', this.timeName);
    const dims = tensorDims(session, inputName, 'input');
    if (dims && dims.length !== 3) throw this.bad(`input "${inputName}" has ${dims.length} dims, expected N×v×d`);

    this.vocab = this.resolveDim('vocab', 'v', dims?.[1] ?? null, meta.vocab, o.vocab, 2);
    this.length = this.resolveDim('length', 'd', dims?.[2] ?? null, meta.length, o.length, 1);
    this.process = this.resolveProcess(meta.process, o.process);
  }

  /**
   * One of v, d: the static dim, else the metadata, else the option. Any two of them that are
   * known must agree (an option contradicting the model is the user's mistake: ParamError on it).
   */
  private resolveDim(param: 'vocab' | 'length', symbol: string, fromShape: number | null, fromMeta: string | undefined, given: number | undefined, min: number): number {
    let meta: number | null = null;
    if (fromMeta !== undefined) {
      meta = Number(fromMeta);
      if (!Number.isInteger(meta) || meta < min) throw this.bad(`its "${param}" metadata is "${fromMeta}", expected an integer >= ${min}`);
    }
    if (fromShape !== null && meta !== null && fromShape !== meta) {
      throw this.bad(`input "${this.inputName}" has ${symbol} = ${fromShape} but its "${param}" metadata says ${meta}`);
    }
    const known = fromShape ?? meta;
    if (given !== undefined && known !== null && given !== known) {
      throw new ParamError(param, `invalid --${param} ${given} (the model "${this.path}" fixes ${symbol} = ${known})`);
    }
    const value = known ?? given;
    if (value === undefined) {
      throw new ParamError(param, `the model "${this.path}" does not fix ${symbol} (input "${this.inputName}" leaves it symbolic and there is no "${param}" metadata): pass --${param}`);
    }
    return checkInt(param, value, min);
  }

  private resolveProcess(fromMeta: string | undefined, given: LearnProcess | undefined): LearnProcess {
    if (fromMeta !== undefined && !(LEARN_PROCESSES as readonly string[]).includes(fromMeta)) {
      throw this.bad(`its "process" metadata is "${fromMeta}", expected ${LEARN_PROCESSES.join(' or ')}`);
    }
    const meta = fromMeta as LearnProcess | undefined;
    if (given !== undefined && !LEARN_PROCESSES.includes(given)) {
      throw new ParamError('process', `invalid --process "${String(given)}" (expected ${LEARN_PROCESSES.join(' or ')})`);
    }
    if (given !== undefined && meta !== undefined && given !== meta) {
      throw new ParamError('process', `invalid --process "${given}" (the model "${this.path}" was trained for "${meta}")`);
    }
    return given ?? meta ?? 'uniform';
  }

  /**
   * The model's logits for n data, run in chunks of at most batchSize (a static batch dim is fed
   * zero padding, whose outputs are dropped).
   *
   * @param x n×v×d one-hot inputs, x[(k·v + b)·d + i].
   * @param tOverT n time fractions t/T.
   * @returns n×v×d float32 logits, same layout. Throws RangeError on sizes, ParamError when the
   *   model's output is not float32 [B, v, d].
   */
  async logits(x: Float32Array, tOverT: Float32Array, n: number): Promise<Float32Array> {
    checkInt('n', n, 0);
    const { vocab: v, length: d } = this;
    const per = v * d;
    if (x.length !== n * per) throw new RangeError(`x has ${x.length} values, expected ${n}×${v}×${d}`);
    if (tOverT.length !== n) throw new RangeError(`${tOverT.length} time fractions for ${n} data`);
    const out = new Float32Array(n * per);
    for (let start = 0; start < n; start += this.batchSize) {
      const m = Math.min(this.batchSize, n - start);
      const B = this.fedBatch(m);
      // Fresh zero-padded copies: the session never sees a view into the caller's arrays.
      const xs = new Float32Array(B * per);
      xs.set(x.subarray(start * per, (start + m) * per));
      const ts = new Float32Array(B);
      ts.set(tOverT.subarray(start, start + m));
      const result = await this.timedRun({ [this.inputName]: floatTensor(xs, [B, v, d]), [this.timeName]: floatTensor(ts, [B]) }, [this.outputName]);
      const { data, dims } = this.floatOutput(result, this.outputName);
      if (dims.length !== 3 || dims[0] !== B || dims[1] !== v || dims[2] !== d) {
        throw this.bad(`output "${this.outputName}" is ${dims.join('×')} for input ${B}×${v}×${d}; expected ${B}×${v}×${d}`);
      }
      out.set(data.subarray(0, m * per), start * per);
    }
    return out;
  }
}
