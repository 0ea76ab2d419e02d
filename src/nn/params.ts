import { ParamError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';

/** One parameter tensor: row-major float32 data in PyTorch's layout for its kind of layer. */
export interface Param {
  shape: number[];
  data: Float32Array;
}

/** Parameters by name. Every model here lists its names and shapes in a fixed (checkpoint) order. */
export type NamedParams = Record<string, Param>;

/** Names and shapes of a model's parameters, in the model's fixed order. */
export type ParamShapes = [string, number[]][];

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Number of scalar parameters. */
export function countParams(shapes: ParamShapes): number {
  return shapes.reduce((a, [, s]) => a + sizeOf(s), 0);
}

/**
 * Initial parameters for convolution and linear layers: weights N(0, 1/(3·fan_in)) (the variance
 * of PyTorch's default kaiming-uniform), biases 0, norm weights 1; `zero(name)` weights start at 0
 * (guided-diffusion's `zero_module`, so that a residual block starts as the identity).
 */
export function initNamedParams(shapes: ParamShapes, rng: Rng, zero: (name: string) => boolean = () => false): NamedParams {
  const params: NamedParams = {};
  for (const [name, shape] of shapes) {
    const data = new Float32Array(sizeOf(shape));
    if (name.includes('norm') && name.endsWith('.weight')) data.fill(1);
    else if (name.endsWith('.weight') && !zero(name)) {
      rng.fillNormal(data);
      const std = 1 / Math.sqrt(3 * sizeOf(shape.slice(1)));
      for (let i = 0; i < data.length; i++) data[i] *= std;
    }
    params[name] = { shape: [...shape], data };
  }
  return params;
}

/** Checks that `params` holds every parameter of `shapes` with its shape (ParamError 'params' otherwise). */
export function checkParams(params: NamedParams, shapes: ParamShapes): void {
  for (const [name, shape] of shapes) {
    const p = params[name];
    if (!p) throw new ParamError('params', `parameter ${name} is missing`);
    if (p.shape.length !== shape.length || p.shape.some((d, i) => d !== shape[i]) || p.data.length !== sizeOf(shape)) {
      throw new ParamError('params', `parameter ${name} has shape [${p.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
}

/** A deep copy (fresh arrays) of the parameters listed in `shapes`. */
export function cloneParams(params: NamedParams, shapes: ParamShapes): NamedParams {
  return Object.fromEntries(shapes.map(([name]) => [name, { shape: [...params[name].shape], data: new Float32Array(params[name].data) }]));
}
