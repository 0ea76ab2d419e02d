import { describe, expect, it } from 'vitest';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { BpOracleModel } from '../src/learn/bpOracle.ts';
import { learnedForwardBackward } from '../src/learn/forwardBackward.ts';
import { discreteSchedule } from '../src/learn/schedule.ts';
import { monteCarloTolerance } from './tolerance.ts';

/**
 * The learned-vs-exact comparison with the exact denoiser as the "learned" model (the BP oracle
 * giving the exact per-token reverse marginals): its reverse chain from x_t approximates
 * p(x_0 | x_t) step by step (tokens are drawn independently per step, so not exactly), BP samples it
 * in one go; class kept must agree within Monte Carlo error, be high at small t and at chance at t = T.
 */
describe('forward–backward with a learned denoiser beside exact BP', () => {
  const g = sampleRules({ vocab: 8, classes: 8, synonyms: 3, tuple: 2, depth: 3 }, 42, 'python');
  const schedule = discreteSchedule({ steps: 50 });
  it.each(['uniform', 'mask'] as const)('%s: the exact denoiser as model agrees with BP', async (process) => {
    const model = new BpOracleModel(g, process, schedule, 'reverse');
    const n = 400;
    const rows = await learnedForwardBackward(model, g, schedule, { times: [5, 25, 50], samples: n, seed: 1 });
    for (const r of rows) {
      // Two independent estimates of the same probability: each within its own 5σ band around the other's p.
      const p = (r.model.classKept + r.bp.classKept) / 2;
      expect(Math.abs(r.model.classKept - r.bp.classKept), `t = ${r.t}`).toBeLessThan(2 * monteCarloTolerance(p, n));
      expect(r.bp.fullyValid).toBe(1);
      // Measured 0.92–0.997 (the factorised reverse steps occasionally break a rule).
      expect(r.model.fullyValid).toBeGreaterThan(0.85);
    }
    expect(rows[0].bp.classKept).toBeGreaterThan(0.85);
    expect(rows[0].model.levelKept[3]).toBeGreaterThan(0.9);
    // At t = T nothing of x_0 survives: the class is kept by chance, about 1/n_c.
    expect(rows[2].bp.classKept).toBeLessThan(0.125 + monteCarloTolerance(0.125, n));
  });
});
