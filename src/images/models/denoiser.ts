import { ParamError } from '../../core/errors.ts';
import { floatTensor, tensor } from '../../nn/runtime.ts';
import { modelInputName, OnnxModel, openOnnxSession, padTo, resolveImageShape, type Device, type ImageShape, type InferenceSession, type Tensor, type TimeInput } from '../../nn/session.ts';

export interface DenoiserOptions {
  /** Image input, N×C×H×W float32 (default 'x'). */
  inputName?: string;
  /** Timestep input, [N] int64, int32 or float32 (default 'timesteps'). */
  timestepName?: string;
  /** Output to read (default: the model's first output). */
  outputName?: string;
  /** Largest batch run() is given; at most the model's batch dim when that is static. */
  batchSize: number;
  device?: Device;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, all physical cores). */
  threads?: number;
  /** C×H×W for the dims the model leaves symbolic (from --image-size); must agree with static ones. */
  imageShape?: ImageShape;
}

/** Result of {@link OnnxDenoiser.run}. */
export interface DenoiserOutput {
  /** n×outputChannels×H×W, row-major. */
  output: Float32Array;
  /** C for ε-prediction, 2C for ε followed by the learned-range variance values (guided-diffusion). */
  outputChannels: number;
}

export type TimestepType = 'int64' | 'int32' | 'float32';

/** What {@link OnnxDenoiser} expects, for messages about a file that is something else. */
const IMAGE_MODEL = 'an image diffusion model takes x (N×C×H×W) and timesteps (N)';
const TIMESTEP_INPUT: TimeInput = {
  param: 'timestep-name',
  fallback: 'timesteps',
  dataRole: 'image input',
  kind: IMAGE_MODEL,
  besides: () => 'besides image and timesteps; class-conditional models are not supported',
};

/**
 * An image diffusion model as `torch.onnx.export` writes guided-diffusion's UNet: inputs `x`
 * (N×C×H×W float32) and `timesteps` ([N]), first output the model output (N×C×H×W, or N×2C×H×W
 * with learned-range variance). Class-conditional models (an extra `y` input) are refused.
 */
export class OnnxDenoiser extends OnnxModel {
  readonly inputName: string;
  readonly timestepName: string;
  readonly outputName: string;
  /** Element type of the timestep input; run() converts the timesteps to it. */
  readonly timestepType: TimestepType;
  /** C×H×W of the image input (static dims merged with `imageShape`), null while some dim is unknown. */
  readonly inputShape: ImageShape | null;

  /** Opens the model; ParamErrors name the file ('model'), a missing name, or the device. */
  static async open(path: string, options: DenoiserOptions): Promise<OnnxDenoiser> {
    const session = await openOnnxSession(path, 'model', options.device ?? 'cpu', options.threads);
    try {
      return new OnnxDenoiser(session, path, options);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  private constructor(session: InferenceSession, path: string, o: DenoiserOptions) {
    const inputName = modelInputName('input-name', o.inputName, 'x', session.inputNames, path, IMAGE_MODEL);
    super(session, inputName, o.batchSize, 'model', path);
    this.inputName = inputName;
    ({ time: this.timestepName, output: this.outputName } = this.denoiserNames(inputName, TIMESTEP_INPUT, o.timestepName, o.outputName));

    const meta = session.inputMetadata.find((m) => m.name === this.timestepName);
    const type = meta?.isTensor ? meta.type : 'unknown';
    if (type !== 'int64' && type !== 'int32' && type !== 'float32') {
      throw new ParamError('timestep-name', `invalid --timestep-name "${this.timestepName}" (its type is ${type}; expected int64, int32 or float32)`);
    }
    this.timestepType = type;
    this.checkTimeDims('timestep-name', this.timestepName);
    this.inputShape = resolveImageShape(session, inputName, o.imageShape, 'model', path);
  }

  /**
   * Runs the model on n images. `x` holds n×C×H×W values (row-major), `timesteps` n values in the
   * model's own convention (guided-diffusion: its 0-based index, i.e. our t − 1), rounded for
   * integer inputs. Returns the n×C'×H×W output with C' = C or 2C; a model whose batch dim is
   * static is fed zero padding, whose outputs are dropped.
   */
  async run(x: Float32Array, n: number, timesteps: ArrayLike<number>): Promise<DenoiserOutput> {
    if (!this.inputShape) throw new ParamError('image-size', `the model "${this.path}" does not fix C×H×W: pass --image-size`);
    const [C, H, W] = this.inputShape;
    const B = this.fedBatch(n);
    if (x.length !== n * C * H * W) throw new RangeError(`x has ${x.length} values, expected ${n}×${C}×${H}×${W}`);
    if (timesteps.length !== n) throw new RangeError(`${timesteps.length} timesteps for ${n} images`);

    const out = await this.timedRun(
      {
        [this.inputName]: floatTensor(padTo(x, B * C * H * W), [B, C, H, W]),
        [this.timestepName]: timestepTensor(this.timestepType, timesteps, B),
      },
      [this.outputName],
    );
    const { data, dims } = this.floatOutput(out, this.outputName);
    const oc = dims[1];
    if (dims.length !== 4 || dims[0] !== B || dims[2] !== H || dims[3] !== W || (oc !== C && oc !== 2 * C)) {
      throw this.bad(`output "${this.outputName}" is ${dims.join('×')} for input ${B}×${C}×${H}×${W}; expected ${B}×${C}×${H}×${W} or ${B}×${2 * C}×${H}×${W}`);
    }
    return { output: B === n ? data : data.slice(0, n * oc * H * W), outputChannels: oc };
  }
}

/** The [B] timestep tensor of the model's type; entries past the given ones (padding) are 0. */
function timestepTensor(type: TimestepType, timesteps: ArrayLike<number>, B: number): Tensor {
  if (type === 'float32') {
    const data = new Float32Array(B);
    data.set(timesteps);
    return tensor('float32', data, [B]);
  }
  if (type === 'int32') {
    const data = new Int32Array(B);
    for (let i = 0; i < timesteps.length; i++) data[i] = Math.round(timesteps[i]);
    return tensor('int32', data, [B]);
  }
  const data = new BigInt64Array(B);
  for (let i = 0; i < timesteps.length; i++) data[i] = BigInt(Math.round(timesteps[i]));
  return tensor('int64', data, [B]);
}
