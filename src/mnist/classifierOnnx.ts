import { Graph } from '../nn/graph.ts';
import { checkDigitClassifierParams, classifierStageNames, digitClassifierParamShapes, MNIST_CLASSIFIER_MODEL, validateDigitClassifierConfig, type DigitClassifierConfig } from './classifier.ts';
import { digitClassifierGraph } from './classifierGraph.ts';
import type { NamedParams } from './unet.ts';

/** The graph name {@link digitClassifierToOnnx} writes. */
export const DIGIT_CLASSIFIER_GRAPH_NAME = 'hierdiff-digit-classifier';

/**
 * The digit classifier of classifier.ts as an ONNX model (opset 17) in the layout the image
 * experiment's `OnnxClassifier` reads: input `x` float32 [N, C, S, S]; first output `logits`
 * float32 [N, classes], then the stage outputs `stage1` … `stageK` in depth order, NCHW
 * (N × c_k × S/2^(k−1) × S/2^(k−1)). The graph is classifierGraph.ts's, the one that is
 * trained, emitted with the parameters as initializers and a symbolic batch 'N'.
 *
 * Model metadata_props: `model` = 'mnist-classifier', `config` (the config as JSON), `classes`.
 *
 * @returns the serialised ModelProto. Throws ParamError on a bad config or params.
 */
export function digitClassifierToOnnx(params: NamedParams, config: DigitClassifierConfig): Uint8Array {
  validateDigitClassifierConfig(config);
  checkDigitClassifierParams(params, config);
  const { inChannels: C, imageSize: S, classes } = config;
  const g = new Graph();
  const x = g.input('x', ['N', C, S, S]);
  const p = Object.fromEntries(digitClassifierParamShapes(config).map(([name, shape]) => [name, g.param(name, shape)]));
  const { logits, stages } = digitClassifierGraph(g, p, config, x);
  const names = classifierStageNames(config);
  return g.toOnnx({
    name: DIGIT_CLASSIFIER_GRAPH_NAME,
    outputs: [['logits', logits], ...stages.map((s, k): [string, typeof s] => [names[k], s])],
    paramData: params,
    metadata: { model: MNIST_CLASSIFIER_MODEL, config: JSON.stringify(config), classes: String(classes) },
  });
}
