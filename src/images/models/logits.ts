/** Reading a classifier's logits (no model runtime here: the CLI and the explorer page share it). */

/** Index of the largest logit of row i of an n×classes array (the first one on ties). */
export function top1(logits: ArrayLike<number>, classes: number, i: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
  return best;
}

/** Row-wise softmax of n × classes float32 logits into float64 `out` (max subtracted for stability). */
export function softmaxRows(logits: Float32Array, n: number, classes: number, out: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[i * classes + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += out[i * classes + k] = Math.exp(logits[i * classes + k] - max);
    for (let k = 0; k < classes; k++) out[i * classes + k] /= sum;
  }
}
