import { checkInt, ParamError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import { checkParams, initNamedParams, type NamedParams } from '../nn/params.ts';

/**
 * The MNIST digit classifier (the ConvNeXt role of the image experiment: a classifier whose stage
 * outputs are probed): its config, parameter names and shapes, shared by the one graph
 * (classifierGraph.ts) that is both trained (classifierTrain.ts) and exported
 * (classifierOnnx.ts), and by the checkpoints. Weights use PyTorch's layouts
 * (conv [out, in, 3, 3], linear [out, in]).
 *
 * Input x: N × C × S × S (C = `inChannels`, S = `imageSize`). Stage k = 1 … K (K =
 * channels.length) works at resolution S/2^(k−1):
 *   for j = 1 … convs[k−1]: h = ReLU(GroupNorm(conv3×3(h)))  (`stage{k}.conv{j}`, `stage{k}.norm{j}`),
 * channels c_{k−1} → c_k for the first conv (c_0 = C), c_k → c_k for the others. The stage output
 * (after the last ReLU, before pooling) is probed: `stage{k}`, N × c_k × S/2^(k−1) × S/2^(k−1).
 * Between stages h = AvgPool2×2(h). After the last stage: global average pool over positions and
 * logits = Linear(h) (`head`, c_K → `classes`).
 *
 * GroupNorm has `groups` groups, eps 1e−5, affine; 3×3 convolutions pad by 1; all have biases.
 */
export interface DigitClassifierConfig {
  /** Image channels C (1 for MNIST). */
  inChannels: number;
  /** Side S of the square images; divisible by 2^(stages − 1). */
  imageSize: number;
  /** Channels per stage c_1 … c_K (resolution S, S/2, …). */
  channels: number[];
  /** 3×3 convolutions of each stage (same length as `channels`). */
  convs: number[];
  /** GroupNorm groups; divides every channel count. */
  groups: number;
  /** Number of classes (logits). */
  classes: number;
}

/** The model name recorded in the classifier's checkpoints and ONNX metadata. */
export const MNIST_CLASSIFIER_MODEL = 'mnist-classifier';

/** The shipped MNIST classifier's architecture (the rest of its recipe: MNIST_RECIPE in train.ts). */
export const MNIST_CLASSIFIER_CONFIG: DigitClassifierConfig = { inChannels: 1, imageSize: 32, channels: [16, 32, 64, 64], convs: [1, 1, 2, 2], groups: 8, classes: 10 };

/** The names of the probed stage outputs, in depth order ('stage1' … 'stageK'). */
export function classifierStageNames(c: DigitClassifierConfig): string[] {
  return c.channels.map((_, k) => `stage${k + 1}`);
}

/** Checks a config (ParamError naming the field). */
export function validateDigitClassifierConfig(c: DigitClassifierConfig): DigitClassifierConfig {
  checkInt('inChannels', c.inChannels, 1, 64);
  checkInt('imageSize', c.imageSize, 2, 1024);
  if (!Array.isArray(c.channels) || c.channels.length < 1 || c.channels.length > 8) throw new ParamError('channels', 'expected 1 to 8 channel counts');
  if (!Array.isArray(c.convs) || c.convs.length !== c.channels.length) throw new ParamError('convs', 'expected one convolution count per stage');
  for (const k of c.convs) checkInt('convs', k, 1, 8);
  checkInt('groups', c.groups, 1, 1024);
  checkInt('classes', c.classes, 2, 100000);
  for (const ch of c.channels) {
    checkInt('channels', ch, 1, 4096);
    if (ch % c.groups !== 0) throw new ParamError('channels', `channel count ${ch} is not divisible by groups ${c.groups}`);
  }
  if (c.imageSize % 2 ** (c.channels.length - 1) !== 0) throw new ParamError('imageSize', `image size ${c.imageSize} is not divisible by 2^${c.channels.length - 1}`);
  return c;
}

/** Every convolution's prefix and channels, in forward order, with its stage index k (1-based). */
export function classifierConvs(c: DigitClassifierConfig): { prefix: string; norm: string; stage: number; cin: number; cout: number }[] {
  const out: { prefix: string; norm: string; stage: number; cin: number; cout: number }[] = [];
  c.channels.forEach((ch, i) => {
    for (let j = 1; j <= c.convs[i]; j++) {
      const cin = j > 1 ? ch : i === 0 ? c.inChannels : c.channels[i - 1];
      out.push({ prefix: `stage${i + 1}.conv${j}`, norm: `stage${i + 1}.norm${j}`, stage: i + 1, cin, cout: ch });
    }
  });
  return out;
}

/** Names and shapes of every parameter, in a fixed order (the checkpoint order). */
export function digitClassifierParamShapes(c: DigitClassifierConfig): [string, number[]][] {
  validateDigitClassifierConfig(c);
  const s: [string, number[]][] = [];
  for (const { prefix, norm, cin, cout } of classifierConvs(c)) {
    s.push([`${prefix}.weight`, [cout, cin, 3, 3]], [`${prefix}.bias`, [cout]], [`${norm}.weight`, [cout]], [`${norm}.bias`, [cout]]);
  }
  const last = c.channels[c.channels.length - 1];
  s.push(['head.weight', [c.classes, last]], ['head.bias', [c.classes]]);
  return s;
}

/** Initial parameters: weights N(0, 1/(3·fan_in)), biases 0, norm weights 1 (see initNamedParams). */
export function initDigitClassifier(c: DigitClassifierConfig, rng: Rng): NamedParams {
  return initNamedParams(digitClassifierParamShapes(c), rng);
}

/** Checks that `params` has every parameter of the config with its shape (ParamError otherwise). */
export function checkDigitClassifierParams(params: NamedParams, c: DigitClassifierConfig): void {
  checkParams(params, digitClassifierParamShapes(c));
}
