/** Seeded random inputs and parameters for the network tests. */
import { createRng, type Rng } from '../../src/core/random.ts';
import type { NamedParams } from '../../src/nn/params.ts';

/** `scale` × N(0, 1) values from createRng(seed) (its bulk `fillNormal` stream), float32. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  createRng(seed).fillNormal(a);
  if (scale !== 1) for (let i = 0; i < n; i++) a[i] *= scale;
  return a;
}

/**
 * A model's initial parameters (`init(config, rng)` with rng = createRng(seed)), then, from the
 * same stream, whatever init leaves constant made random: each norm weight (a name with `norm`
 * ending in `.weight`) becomes 1 + 0.3·N(0, 1), and each bias entry and each weight entry that init
 * left at exactly 0 becomes `biasScale`·N(0, 1). At init the norms' affine parts are 1 and 0 and
 * some weights are zero, which would hide a γ/β mix-up, a wrong normalisation axis or a layout
 * error behind a zero.
 */
export function randomParams<C>(init: (config: C, rng: Rng) => NamedParams, config: C, seed: number, biasScale = 0.3): NamedParams {
  const rng = createRng(seed);
  const params = init(config, rng);
  for (const [name, p] of Object.entries(params)) {
    const normWeight = name.includes('norm') && name.endsWith('.weight');
    const bias = name.endsWith('.bias');
    for (let k = 0; k < p.data.length; k++) {
      if (normWeight) p.data[k] = 1 + 0.3 * rng.normal();
      else if (bias || p.data[k] === 0) p.data[k] = biasScale * rng.normal();
    }
  }
  return params;
}
