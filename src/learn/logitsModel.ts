/**
 * The one interface every learned RHM denoiser implements (an exported bpUNet, the float64
 * reference, an ONNX file), so that sampling and evaluation code never knows which it holds.
 */
export interface LogitsModel {
  /** Vocabulary v: input and output channels. */
  readonly vocab: number;
  /** Sequence length d (= s^L for a bpUNet). */
  readonly length: number;
  /** The noise process the model was trained to denoise (it decides the time embedding). */
  readonly process: 'uniform' | 'mask';
  /**
   * The network's logits for x̂_0 (softmax over v gives the predicted clean token distribution).
   *
   * @param x N×v×d one-hot inputs, channel-major per datum: x[(n·v + b)·d + i] is 1 when token i of
   *   datum n is b; a masked token (mask process) is an all-zero column. See {@link oneHot}.
   * @param tOverT N time fractions t/T ∈ (0, 1].
   * @param n the number of data N.
   * @returns N×v×d logits in the same layout as x.
   */
  logits(x: Float32Array, tOverT: Float32Array, n: number): Promise<Float32Array>;
  /** Frees native or GPU resources held by the model, when it holds any. */
  release?(): Promise<void>;
}

/**
 * One-hot encodes N sequences of d tokens for a {@link LogitsModel}.
 *
 * @param tokens N×d row-major token ids in 0 … v−1, or −1 for a masked token.
 * @returns N×v×d Float32Array with out[(n·v + b)·d + i] = [tokens[n·d + i] = b]: a masked token
 *   gives an all-zero column. Throws RangeError on a size mismatch or a token outside −1 … v−1.
 */
export function oneHot(tokens: Int32Array, n: number, v: number, d: number): Float32Array {
  if (tokens.length !== n * d) throw new RangeError(`tokens has ${tokens.length} values, expected ${n}×${d}`);
  const out = new Float32Array(n * v * d);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < d; i++) {
      const b = tokens[k * d + i];
      if (b === -1) continue;
      if (!(b >= 0 && b < v)) throw new RangeError(`token ${b} at datum ${k}, position ${i} is outside −1 … ${v - 1}`);
      out[(k * v + b) * d + i] = 1;
    }
  }
  return out;
}
