import { OnnxGraphBuilder } from '../images/onnx/graphBuilder.ts';
import { checkDigitClassifierParams, classifierConvs, classifierStageNames, MNIST_CLASSIFIER_MODEL, validateDigitClassifierConfig, type DigitClassifierConfig } from './digitClassifier.ts';
import { GROUP_NORM_EPS, type NamedParams } from './imageUnet.ts';

/** The graph name {@link digitClassifierToOnnx} writes. */
export const DIGIT_CLASSIFIER_GRAPH_NAME = 'hierdiff-digit-classifier';

/**
 * The digit classifier of digitClassifier.ts as an ONNX model (opset 17, IR 8) in the layout the
 * image experiment's `OnnxClassifier` reads: input `x` float32 [N, C, S, S]; first output
 * `logits` float32 [N, classes], then the stage outputs `stage1` … `stageK` in depth order, NCHW
 * (N × c_k × S/2^(k−1) × S/2^(k−1)).
 *
 * - conv3×3 = Conv (pads 1, with bias; PyTorch's weight layout is ONNX's);
 * - GroupNorm = Reshape to [N, G, −1] → InstanceNormalization (unit scale, zero bias, eps 1e−5)
 *   → Reshape to [N, c, h, w] → Mul γ → Add β (γ, β stored as [c, 1, 1]);
 * - ReLU = Relu; the 2×2 pooling between stages = AveragePool (kernel 2, stride 2);
 * - head = GlobalAveragePool → Flatten → Gemm (transB = 1).
 *
 * Model metadata_props: `model` = 'mnist-classifier', `config` (the config as JSON), `classes`.
 *
 * @returns the serialised ModelProto. Throws ParamError on a bad config or params.
 */
export function digitClassifierToOnnx(params: NamedParams, config: DigitClassifierConfig): Uint8Array {
  validateDigitClassifierConfig(config);
  checkDigitClassifierParams(params, config);
  const { inChannels: C, imageSize: S, groups: G, classes } = config;
  const g = new OnnxGraphBuilder(DIGIT_CLASSIFIER_GRAPH_NAME, { opset: 17 });
  g.metadata('model', MNIST_CLASSIFIER_MODEL).metadata('config', JSON.stringify(config)).metadata('classes', String(classes));
  const stageNames = classifierStageNames(config);
  g.input('x', 'float32', ['N', C, S, S]).output('logits', 'float32', ['N', classes]);
  config.channels.forEach((ch, k) => {
    const side = S / 2 ** k;
    g.output(stageNames[k], 'float32', ['N', ch, side, side]);
  });

  let counter = 0;
  const op = (type: string, inputs: string[], attrs: Record<string, number | number[]> = {}, out = `${type.toLowerCase()}_${counter++}`) => {
    g.node(type, inputs, [out], attrs);
    return out;
  };
  const param = (name: string, shape?: number[]) => {
    const p = params[name];
    g.initializer(name, p.data, shape ?? p.shape);
    return name;
  };
  g.initializer('gn_scale', new Float32Array(G).fill(1), [G]);
  g.initializer('gn_bias', new Float32Array(G), [G]);
  g.initializer('gn_grouped', BigInt64Array.of(0n, BigInt(G), -1n), [3]);

  const convs = classifierConvs(config);
  let h = 'x';
  for (let i = 0; i < convs.length; i++) {
    const { prefix, norm, stage, cout } = convs[i];
    if (i > 0 && convs[i - 1].stage !== stage) h = op('AveragePool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
    const side = S / 2 ** (stage - 1);
    const conv = op('Conv', [h, param(`${prefix}.weight`), param(`${prefix}.bias`)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
    const normed = op('InstanceNormalization', [op('Reshape', [conv, 'gn_grouped']), 'gn_scale', 'gn_bias'], { epsilon: GROUP_NORM_EPS });
    g.initializer(`${norm}.shape`, BigInt64Array.of(0n, BigInt(cout), BigInt(side), BigInt(side)), [4]);
    const back = op('Reshape', [normed, `${norm}.shape`]);
    const affine = op('Add', [op('Mul', [back, param(`${norm}.weight`, [cout, 1, 1])]), param(`${norm}.bias`, [cout, 1, 1])]);
    const last = i === convs.length - 1 || convs[i + 1].stage !== stage;
    h = op('Relu', [affine], {}, last ? stageNames[stage - 1] : undefined);
  }
  const pooled = op('Flatten', [op('GlobalAveragePool', [h])], { axis: 1 });
  op('Gemm', [pooled, param('head.weight'), param('head.bias')], { transB: 1 }, 'logits');
  return g.toBytes();
}
