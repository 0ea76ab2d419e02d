import type { Value } from '../nn/graph.ts';
import { paramShapes, type BpUnetConfig, type BpUnetParams } from './bpUnet.ts';
import { Graph } from '../nn/graph.ts';
import { bpUnetGraph } from './bpUnetGraph.ts';
import { bpUnetLength, checkBpUnetParams } from './bpUnetReference.ts';

/** The graph name {@link bpUnetToOnnx} writes. */
export const BPUNET_GRAPH_NAME = 'hierdiff-bpunet';

/**
 * bpUNet as an ONNX model (opset 17): a model trained here, runnable by onnxruntime and so
 * evaluated exactly like one trained elsewhere (`OnnxRhmDenoiser`, onnxDenoiser.ts). The graph is
 * the training graph's forward pass (bpUnetGraph.ts: the one definition of the network) with the
 * parameters as initializers and a symbolic batch N.
 *
 * Inputs `x` float32 [N, v, d] (one-hot, channel-major; a masked token an all-zero column) and
 * `t` float32 [N] (t/T); output `logits` float32 [N, v, d]. The time embedding's ᾱ_τ comes from `t`
 * inside the graph: τ = Cast_int64(Clip(Floor(t·1000), 0, 1000)) with t·1000 in float32 like
 * PyTorch, ᾱ_τ = Gather(float32 table of the 1001 ᾱ values, τ) (uniform only: the mask graph never
 * reads `t`, though it keeps the input for one interface).
 *
 * Model metadata_props: `model` = 'bpunet', `process`, `vocab`, `length` (d), `tuple`, `depth`,
 * `width` (decimal strings); `OnnxRhmDenoiser` reads `process`, `vocab` and `length`.
 *
 * @returns the serialised ModelProto. Throws ParamError on a bad config or params.
 */
export function bpUnetToOnnx(params: BpUnetParams, config: BpUnetConfig): Uint8Array {
  checkBpUnetParams(params, config);
  const { vocab: v, tuple: s, depth: L, width: W, process } = config;
  const d = bpUnetLength(config);
  const g = new Graph();
  const x = g.input('x', ['N', v, d]);
  const t = g.input('t', ['N']);
  const pv: Record<string, Value> = {};
  for (const [name, shape] of paramShapes(config)) pv[name] = g.param(name, shape);
  const logits = bpUnetGraph(g, pv, config, x, process === 'uniform' ? { tOverT: t } : null);
  const metadata = Object.fromEntries(Object.entries({ model: 'bpunet', process, vocab: v, length: d, tuple: s, depth: L, width: W }).map(([k, val]) => [k, String(val)]));
  return g.toOnnx({ name: BPUNET_GRAPH_NAME, outputs: [['logits', logits]], paramData: params, metadata });
}
