import type { Value } from './graphCore.ts';
import { LinearGraph } from './graphLinear.ts';

export type { Dim, Value } from './graphCore.ts';
export { broadcastShapes, type Operand } from './graphTensor.ts';
export type { ConvOptions } from './graphLinear.ts';

/**
 * Neural-network ops on ONNX (opset 17), each with its shape rule and its backward rule written
 * once, next to it. Shapes are static; a symbolic dim (the batch of an exported model) passes
 * through every op that does not need its value. Backward rules need concrete shapes: training
 * graphs are built for a fixed batch.
 *
 * Layouts follow ONNX (= PyTorch): images N × C × H × W, sequences N × C × L, conv weights
 * [out, in, k…], ConvTranspose weights [in, out, k…], Gemm B [out, in] with transB.
 *
 * The ops are split by group for size: graphTensor.ts (elementwise, shape, reductions),
 * graphLinear.ts (matrix products, convolutions, resampling) and here normalisation and softmax.
 */
export class Graph extends LinearGraph {
  // ---- normalisation and softmax ----------------------------------------------------------

  /**
   * LayerNorm over the last axis: y = γ ⊙ (x − μ)/√(σ² + eps) + β (γ, β [C] or null for none).
   * Backward with x̂ the normalised input and g = gy ⊙ γ:
   * dx = (g − mean g − x̂·mean(g ⊙ x̂))/√(σ² + eps), dγ = Σ gy ⊙ x̂, dβ = Σ gy.
   */
  layerNorm(x: Value, gamma: Value | null, beta: Value | null, eps: number): Value {
    const rank = x.shape.length;
    const c = x.shape[rank - 1] as number;
    const scale = gamma ?? this.ones(c);
    const stat = [...x.shape.slice(0, -1), 1];
    const inputs = beta ? [x, scale, beta] : [x, scale];
    const outs = this.emit('LayerNormalization', inputs, { axis: -1, epsilon: eps }, [x.shape, stat, stat], (gy, needs) => {
      const [, mean, rstd] = outs;
      const xhat = this.mul(this.sub(x, mean), rstd);
      const lead = x.shape.slice(0, -1).map((_, i) => i);
      const g = gamma ? this.mul(gy, gamma) : gy;
      const gx = needs[0] ? this.mul(this.sub(this.sub(g, this.reduceMean(g, [-1], true)), this.mul(xhat, this.reduceMean(this.mul(g, xhat), [-1], true))), rstd) : null;
      return [gx, gamma && needs[1] ? this.reduceSum(this.mul(gy, xhat), lead) : null, beta && needs[2] ? this.reduceSum(gy, lead) : null];
    });
    return outs[0];
  }

  /**
   * PyTorch `GroupNorm(G, C)` on N × C × …: channels split into G consecutive groups, each
   * normalised over its channels and positions (biased variance, eps), then γ ⊙ x̂ + β per channel.
   */
  groupNorm(x: Value, gamma: Value, beta: Value, groups: number, eps: number): Value {
    const c = x.shape[1] as number;
    const normed = this.layerNorm(this.reshape(x, [0, groups, -1]), null, null, eps);
    const back = this.reshape(normed, [0, ...x.shape.slice(1).map((d) => d as number)]);
    const perChannel = [c, ...x.shape.slice(2).map(() => 1)];
    return this.add(this.mul(back, this.reshape(gamma, perChannel)), this.reshape(beta, perChannel));
  }

  /** Softmax along `axis`; backward y ⊙ (g − Σ g ⊙ y). */
  softmax(x: Value, axis: number): Value {
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const y: Value = this.emit('Softmax', [x], { axis: ax }, [x.shape], (gy) => [this.mul(y, this.sub(gy, this.reduceSum(this.mul(gy, y), [ax], true)))])[0];
    return y;
  }

  /** Log-softmax along `axis`; backward g − e^y ⊙ Σ g. */
  logSoftmax(x: Value, axis: number): Value {
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const y: Value = this.emit('LogSoftmax', [x], { axis: ax }, [x.shape], (gy) => [this.sub(gy, this.mul(this.exp(y), this.reduceSum(gy, [ax], true)))])[0];
    return y;
  }

  // ---- helpers of the backward rules ------------------------------------------------------

  private readonly onesCache = new Map<number, Value>();

  /** A float32 constant [n] of ones, one per size (shared by every LayerNorm without γ). */
  private ones(n: number): Value {
    let v = this.onesCache.get(n);
    if (!v) this.onesCache.set(n, (v = this.constant(new Float32Array(n).fill(1), [n])));
    return v;
  }
}
