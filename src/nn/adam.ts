import type { NamedParams, ParamShapes } from './params.ts';

/** Adam's hyper-parameters (PyTorch's names and defaults: β 0.9/0.999, ε 1e−8). */
export interface AdamSettings {
  beta1: number;
  beta2: number;
  eps: number;
}

/**
 * One Adam step with PyTorch's update rule, in place on float32 arrays:
 * m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − (lr/(1 − β₁^k))·m/(√v/√(1 − β₂^k) + ε),
 * k the 1-based step count; the bias corrections in float64. Plain loops: the same inputs give
 * the same bits on every machine.
 */
export function adamStep(
  shapes: ParamShapes,
  params: NamedParams,
  grads: Record<string, Float32Array>,
  m: NamedParams,
  v: NamedParams,
  step: number,
  lr: number,
  { beta1, beta2, eps }: AdamSettings,
): void {
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (const [name] of shapes) {
    const p = params[name].data;
    const g = grads[name];
    const mm = m[name].data;
    const vv = v[name].data;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      const mi = (mm[i] = beta1 * mm[i] + (1 - beta1) * gi);
      const vi = (vv[i] = beta2 * vv[i] + (1 - beta2) * gi * gi);
      p[i] -= (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
  }
}

/** ema ← decay·ema + (1 − decay)·params, in place. */
export function emaStep(shapes: ParamShapes, ema: NamedParams, params: NamedParams, decay: number): void {
  for (const [name] of shapes) {
    const e = ema[name].data;
    const p = params[name].data;
    for (let i = 0; i < e.length; i++) e[i] = decay * e[i] + (1 - decay) * p[i];
  }
}
