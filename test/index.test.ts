import { describe, expect, it } from 'vitest';
import * as hierdiff from '../src/index.ts';

describe('library front door', () => {
  it('runs the README example end to end', () => {
    const { sampleRules, generate, createRng, makeProcess, referenceBackend } = hierdiff;
    const g = sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: 6 }, 0);
    const data = generate(g, 10, createRng(1));
    const noise = makeProcess('mask', 0.25);
    const lambda = new Float64Array(10 * 64 * 32);
    noise.likelihood(noise.sample(data.levels[6], 32, createRng(2)), 32, lambda);
    const up = referenceBackend.upward(g, lambda, 10);
    const marginals = referenceBackend.marginals(g, up);
    const samples = referenceBackend.sample(g, up, createRng(3), 4);
    expect(marginals).toHaveLength(7);
    expect(samples.count).toBe(40);
    // Every posterior sample agrees with every visible (unmasked) token: masking is hard evidence.
    const obs = noise.sample(data.levels[6], 32, createRng(2));
    if (obs.kind !== 'tokens') throw new Error('tokens expected');
    for (let n = 0; n < 10; n++)
      for (let t = 0; t < 4; t++)
        for (let i = 0; i < 64; i++) {
          const seen = obs.tokens[n * 64 + i];
          if (seen !== hierdiff.MASK) expect(samples.levels[6][(n * 4 + t) * 64 + i]).toBe(seen);
        }
  });
});
