import { ParamError } from '../core/errors.ts';
import type { Graph, Value } from '../nn/graph.ts';
import { classifierConvs, validateDigitClassifierConfig, type DigitClassifierConfig } from './classifier.ts';
import { GROUP_NORM_EPS } from './unet.ts';

/** The classifier graph's outputs. */
export interface DigitClassifierValues {
  /** N × classes. */
  logits: Value;
  /** The stage outputs `stage1` … `stageK` in depth order, N × c_k × S/2^(k−1) × S/2^(k−1). */
  stages: Value[];
}

/**
 * The digit classifier of classifier.ts as an nn/ graph: the one forward that training
 * (classifierTrain.ts) and the ONNX export (classifierOnnx.ts) both emit. `params`: a Value
 * per parameter name of `digitClassifierParamShapes(config)`; `x`: N × C × S × S.
 *
 * Per convolution: h = ReLU(GroupNorm(conv3×3(h))) (pads 1, bias; GroupNorm eps 1e−5); AveragePool
 * 2×2 between stages; head: mean over positions, then Linear (`head`).
 */
export function digitClassifierGraph(g: Graph, params: Record<string, Value>, config: DigitClassifierConfig, x: Value): DigitClassifierValues {
  validateDigitClassifierConfig(config);
  const { inChannels: C, imageSize: S, groups } = config;
  if (x.shape.length !== 4 || x.shape[1] !== C || x.shape[2] !== S || x.shape[3] !== S) {
    throw new ParamError('x', `network input has shape [${x.shape.join(', ')}], expected [N, ${C}, ${S}, ${S}]`);
  }
  const p = (name: string): Value => {
    const v = params[name];
    if (!v) throw new ParamError('params', `parameter ${name} is missing`);
    return v;
  };
  const stages: Value[] = [];
  const convs = classifierConvs(config);
  let h = x;
  for (let i = 0; i < convs.length; i++) {
    const { prefix, norm, stage } = convs[i];
    if (i > 0 && convs[i - 1].stage !== stage) h = g.avgPool(h, 2);
    h = g.conv(h, p(`${prefix}.weight`), p(`${prefix}.bias`), { pads: [1, 1] });
    h = g.relu(g.groupNorm(h, p(`${norm}.weight`), p(`${norm}.bias`), groups, GROUP_NORM_EPS));
    if (i === convs.length - 1 || convs[i + 1].stage !== stage) stages.push(h);
  }
  const pooled = g.reduceMean(h, [2, 3]);
  return { logits: g.linear(pooled, p('head.weight'), p('head.bias')), stages };
}

/**
 * Mean softmax cross-entropy of `logits` [N, classes] against one-hot targets [N, classes]:
 * −(1/N) Σ_n Σ_k y_nk · logSoftmax(logits)_nk (a scalar).
 */
export function crossEntropyGraph(g: Graph, logits: Value, oneHot: Value): Value {
  return g.neg(g.mean(g.reduceSum(g.mul(g.logSoftmax(logits, 1), oneHot), [1])));
}
