import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { ParamError } from '../../core/errors.ts';
import { classifierConvs, validateDigitClassifierConfig, type DigitClassifierConfig } from '../digitClassifier.ts';
import { GROUP_NORM_EPS } from '../imageUnet.ts';
import type { Tf } from './backend.ts';
import { avgPool2, conv3x3, groupNorm, linear } from './convLayers.ts';
import type { TensorMap } from './imageUnetModel.ts';

export interface DigitClassifierOutput {
  /** N × classes. */
  logits: Tensor2D;
  /** The stage outputs in depth order, NHWC (N × S/2^(k−1) × S/2^(k−1) × c_k). */
  stages: Tensor4D[];
}

/**
 * The digit classifier of digitClassifier.ts on tfjs. `x`: N × S × S × C (NHWC, the tfjs layout;
 * the ONNX model takes NCHW). Not wrapped in tf.tidy: the caller disposes (or tidies) the outputs
 * and intermediates, so that it can keep the stages it wants.
 */
export function digitClassifierForward(tf: Tf, params: TensorMap, config: DigitClassifierConfig, x: Tensor4D): DigitClassifierOutput {
  validateDigitClassifierConfig(config);
  const { inChannels: C, imageSize: S, groups } = config;
  if (x.rank !== 4 || x.shape[1] !== S || x.shape[2] !== S || x.shape[3] !== C) {
    throw new ParamError('x', `network input has shape [${x.shape.join(', ')}], expected [N, ${S}, ${S}, ${C}]`);
  }
  const p = (name: string) => {
    const t = params[name];
    if (!t) throw new ParamError('params', `parameter ${name} is missing`);
    return t;
  };
  const stages: Tensor4D[] = [];
  let h = x;
  const convs = classifierConvs(config);
  for (let i = 0; i < convs.length; i++) {
    const { prefix, norm, stage } = convs[i];
    if (i > 0 && convs[i - 1].stage !== stage) h = avgPool2(tf, h);
    h = conv3x3(tf, h, p(`${prefix}.weight`), p(`${prefix}.bias`) as Tensor1D);
    h = tf.relu(groupNorm(tf, h, p(`${norm}.weight`) as Tensor1D, p(`${norm}.bias`) as Tensor1D, groups, GROUP_NORM_EPS));
    if (i === convs.length - 1 || convs[i + 1].stage !== stage) stages.push(h);
  }
  const pooled = tf.mean(h, [1, 2]) as Tensor2D;
  const logits = linear(tf, pooled, p('head.weight'), p('head.bias') as Tensor1D);
  return { logits, stages };
}

/** Mean softmax cross-entropy of logits [N, classes] against one-hot targets [N, classes]. */
export function crossEntropy(tf: Tf, logits: Tensor2D, oneHot: Tensor): Tensor {
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), oneHot), 1)));
}
