import { ParamError } from '../../core/errors.ts';

export { top1 } from './logits.ts';
import { floatTensor } from '../../nn/runtime.ts';
import { checkName, nameList, OnnxModel, openOnnxSession, padTo, resolveImageShape, type Device, type ImageShape, type InferenceSession } from '../../nn/session.ts';

export interface ClassifierOptions {
  /** Image input, N×C×H×W float32 (default: the model's first input). */
  inputName?: string;
  /** Logits output, N×classes (default: the model's first output). */
  logitsName?: string;
  /** Probed layers (default: every output but the logits); returned in graph order whatever the order given. */
  layerNames?: string[];
  /** Largest batch run() is given; at most the model's batch dim when that is static. */
  batchSize: number;
  device?: Device;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, all physical cores). */
  threads?: number;
  /** C×H×W for the dims the model leaves symbolic; must agree with static ones. */
  imageShape?: ImageShape;
}

/** One probed layer of a batch: `shape` starts with the batch dim n. */
export interface LayerActivation {
  name: string;
  data: Float32Array;
  shape: number[];
}

/** Result of {@link OnnxClassifier.run}. */
export interface ClassifierOutput {
  /** n×classes, row-major. */
  logits: Float32Array;
  classes: number;
  /** The probed layers in graph (= depth) order. */
  layers: LayerActivation[];
}

/**
 * A classifier exported with intermediate activations as extra graph outputs: first input the
 * image (N×C×H×W float32), first output the logits (N×classes), every other output a probed
 * layer, in graph order, which exporters write in depth order. See {@link channelAxis} for how
 * a layer's channels are located.
 */
export class OnnxClassifier extends OnnxModel {
  readonly inputName: string;
  readonly logitsName: string;
  /** Probed layers, in graph order. */
  readonly layerNames: readonly string[];
  /** C×H×W of the image input (static dims merged with `imageShape`), null while some dim is unknown. */
  readonly inputShape: ImageShape | null;

  /** Opens the model; ParamErrors name the file ('classifier'), a missing name, or the device. */
  static async open(path: string, options: ClassifierOptions): Promise<OnnxClassifier> {
    const session = await openOnnxSession(path, 'classifier', options.device ?? 'cpu', options.threads);
    try {
      return new OnnxClassifier(session, path, options);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  private constructor(session: InferenceSession, path: string, o: ClassifierOptions) {
    const inputName = checkName('classifier-input', o.inputName ?? session.inputNames[0], session.inputNames, 'input');
    super(session, inputName, o.batchSize, 'classifier', path);
    this.inputName = inputName;
    const outputs = session.outputNames;
    this.logitsName = checkName('logits-name', o.logitsName ?? outputs[0], outputs, 'output');
    const probed = outputs.filter((n) => n !== this.logitsName);
    if (o.layerNames) {
      const missing = o.layerNames.filter((n) => !probed.includes(n));
      if (missing.length) {
        throw new ParamError('layers', `invalid --layers "${missing.join(',')}" (not among the model's layer outputs ${nameList(probed)})`);
      }
    }
    this.layerNames = o.layerNames ? probed.filter((n) => o.layerNames!.includes(n)) : probed;
    const extra = session.inputNames.filter((n) => n !== inputName);
    if (extra.length) throw this.bad(`it has inputs ${nameList(extra)} besides the image`);
    this.inputShape = resolveImageShape(session, inputName, o.imageShape, 'classifier', path);
  }

  /**
   * Runs the classifier on n images (`x`: n×C×H×W, row-major). Returns the n×classes logits and
   * each probed layer with its batch-n shape; a model whose batch dim is static is fed zero
   * padding, whose outputs are dropped.
   */
  async run(x: Float32Array, n: number): Promise<ClassifierOutput> {
    if (!this.inputShape) throw new ParamError('image-size', `the classifier "${this.path}" does not fix C×H×W: pass --image-size`);
    const [C, H, W] = this.inputShape;
    const B = this.fedBatch(n);
    if (x.length !== n * C * H * W) throw new RangeError(`x has ${x.length} values, expected ${n}×${C}×${H}×${W}`);

    const out = await this.timedRun({ [this.inputName]: floatTensor(padTo(x, B * C * H * W), [B, C, H, W]) }, [this.logitsName, ...this.layerNames]);
    const logits = this.floatOutput(out, this.logitsName);
    if (logits.dims.length !== 2 || logits.dims[0] !== B) {
      throw this.bad(`logits "${this.logitsName}" are ${logits.dims.join('×')}; expected ${B}×classes`);
    }
    const classes = logits.dims[1];
    const layers = this.layerNames.map((name) => {
      const { data, dims } = this.floatOutput(out, name);
      if (dims.length < 2 || dims[0] !== B) throw this.bad(`layer "${name}" is ${dims.join('×')}; expected a batch dim of ${B} first`);
      const per = data.length / B;
      return { name, data: B === n ? data : data.slice(0, n * per), shape: [n, ...dims.slice(1)] };
    });
    return { logits: B === n ? logits.data : logits.data.slice(0, n * classes), classes, layers };
  }
}

/**
 * The channel axis of a layer activation of the given shape (batch dim first): 1 for a 4-D
 * N×C×H×W map, the last axis otherwise (N×C vectors, N×T×C token sequences). A channels-last
 * N×H×W×C map cannot be told from N×C×H×W by its shape alone and is read as NCHW, so exporters
 * of such models must transpose the probed outputs to NCHW.
 */
export function channelAxis(shape: readonly number[]): number {
  return shape.length === 4 ? 1 : shape.length - 1;
}
