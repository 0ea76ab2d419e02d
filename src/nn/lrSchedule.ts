/** What the learning rate does after the warm-up. */
export type LrDecay = 'none' | 'cosine';
export const LR_DECAYS: readonly LrDecay[] = ['none', 'cosine'];

/**
 * The learning rate at step k (0-based): lr·(k + 1)/warmup during the warm-up, then lr ('none') or
 * lr·(1 + cos(π·(k − warmup)/(steps − warmup)))/2 ('cosine', from lr down to 0 at the last step).
 */
export function learningRate(lr: number, warmup: number, decay: LrDecay = 'none', steps = 0): (step: number) => number {
  return (k) => {
    if (k < warmup) return (lr * (k + 1)) / warmup;
    if (decay === 'none' || steps <= warmup) return lr;
    return (lr * (1 + Math.cos((Math.PI * (k - warmup)) / (steps - warmup)))) / 2;
  };
}
