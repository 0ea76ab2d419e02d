import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { Param } from '../bpUnet.ts';
import type { Tf } from './backend.ts';

/** Parameters (or Adam moments) by name, PyTorch layouts. */
type NamedParams = Record<string, Param>;

/**
 * Adam with PyTorch's update rule on float32 variables:
 * m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − (lr/(1 − β₁^k))·m/(√v/√(1 − β₂^k) + ε),
 * k the step count (1-based), the bias corrections computed in float64. The moments are
 * non-trainable variables that checkpoints save and restore together with k.
 */
export class Adam {
  readonly list: Variable[];
  private readonly names: string[];
  private readonly m: Variable[];
  private readonly v: Variable[];
  private step: number;

  constructor(
    private readonly tf: Tf,
    vars: Record<string, Variable>,
    names: string[],
    private readonly hp: { lr: number; beta1: number; beta2: number; eps: number },
    step: number,
    moments: { m: NamedParams; v: NamedParams } | null,
  ) {
    this.names = names;
    this.list = this.names.map((name) => vars[name]);
    const init = (group: NamedParams | undefined, i: number) => {
      const p = this.list[i];
      const start = group ? tf.tensor(group[this.names[i]].data, p.shape, 'float32') : tf.zerosLike(p);
      const moment = tf.variable(start, false);
      start.dispose();
      return moment;
    };
    this.m = this.names.map((_, i) => init(moments?.m, i));
    this.v = this.names.map((_, i) => init(moments?.v, i));
    this.step = step;
  }

  /** Applies one step with the gradients keyed by variable name (tf.variableGrads' output). */
  update(grads: Record<string, Tensor>): void {
    const tf = this.tf;
    const { lr, beta1, beta2, eps } = this.hp;
    this.step++;
    const stepSize = lr / (1 - beta1 ** this.step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    tf.tidy(() => {
      for (let i = 0; i < this.list.length; i++) {
        const p = this.list[i];
        const g = grads[p.name];
        if (!g) throw new Error(`no gradient for ${this.names[i]}`);
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }

  /** The first ('m') or second ('v') moments as plain parameters. */
  moments(which: 'm' | 'v'): NamedParams {
    const src = which === 'm' ? this.m : this.v;
    const out: NamedParams = {};
    this.names.forEach((name, i) => {
      out[name] = { shape: [...src[i].shape], data: new Float32Array(src[i].dataSync() as Float32Array) };
    });
    return out;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

