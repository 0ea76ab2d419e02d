import { Graph } from '../nn/graph.ts';
import { checkParams } from '../nn/params.ts';
import { imageUnetParamShapes, validateImageUnetConfig, type ImageUnetConfig, type NamedParams } from './unet.ts';
import { imageUnetGraph } from './unetGraph.ts';

/** The graph name {@link imageUnetToOnnx} writes. */
export const IMAGE_UNET_GRAPH_NAME = 'hierdiff-image-unet';

/**
 * The image U-Net of unet.ts as an ONNX model (opset 17) in guided-diffusion's interface, so
 * that the image experiment runs it like an exported guided-diffusion model: inputs `x` float32
 * [N, C, S, S] and `timesteps` float32 [N] (original 0-based step indices), output `eps` float32
 * [N, C, S, S] (ε-prediction, fixed variance). The graph is unetGraph.ts's, the one that is
 * trained, emitted with the parameters as initializers and a symbolic batch 'N'.
 *
 * Metadata: `model` = 'image-unet', `prediction` = 'epsilon', `variance` = 'fixed', `schedule`
 * and `steps` as given, `config` (the JSON config).
 *
 * @returns the serialised ModelProto. Throws ParamError (param `params`) on a missing parameter
 * or one of another shape, and on a bad config.
 */
export function imageUnetToOnnx(params: NamedParams, config: ImageUnetConfig, diffusion: { schedule: string; originalSteps: number }): Uint8Array {
  validateImageUnetConfig(config);
  const shapes = imageUnetParamShapes(config);
  checkParams(params, shapes);
  const { inChannels: C, imageSize: S } = config;
  const g = new Graph();
  const x = g.input('x', ['N', C, S, S]);
  const timesteps = g.input('timesteps', ['N']);
  const p = Object.fromEntries(shapes.map(([name, shape]) => [name, g.param(name, shape)]));
  const eps = imageUnetGraph(g, p, config, x, timesteps);
  const metadata = { model: 'image-unet', prediction: 'epsilon', variance: 'fixed', schedule: diffusion.schedule, steps: String(diffusion.originalSteps), config: JSON.stringify(config) };
  return g.toOnnx({ name: IMAGE_UNET_GRAPH_NAME, outputs: [['eps', eps]], paramData: params, metadata });
}
