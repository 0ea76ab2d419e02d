import { describe, expect, it } from 'vitest';
import { curveNoises, DEFAULTS, fromQuery, runnableDepths, toQuery, validateState } from '../web/src/params.ts';
import { drawDatum } from '../web/src/tree.ts';
import type { DatumResult } from '../web/src/protocol.ts';

describe('web page state', () => {
  it('round-trips every control through the share URL', () => {
    const st = {
      ...DEFAULTS,
      v: 6,
      m: 2,
      s: 3,
      L: 4,
      nc: 5,
      process: 'gaussian' as const,
      schedule: 'cosine' as const,
      noise: 0.135,
      gseed: 7,
      dseed: 9,
      precision: 'f32' as const,
      traj: 3,
      curveDepths: [2, 3],
      curveLevels: 8,
      curveData: 500,
      levelsDepth: 3,
    };
    expect(fromQuery(toQuery(st))).toEqual(st);
    expect(toQuery(DEFAULTS)).not.toContain('curve');
  });

  it('names each invalid parameter with the library message and the constraint in symbols', () => {
    const errors = validateState({ ...DEFAULTS, v: 8, s: 2, m: 40 });
    expect(errors).toHaveLength(1);
    expect(errors[0].field).toBe('m');
    expect(errors[0].message).toContain('m must be ≤ v^(s−1) = 8');
    expect(errors[0].message).toContain('synonyms 40');
    expect(validateState(DEFAULTS)).toEqual([]);
    expect(validateState({ ...DEFAULTS, v: NaN }).map((e) => e.message)).toEqual([expect.stringContaining('Invalid vocab (empty)')]);
    expect(
      validateState({ ...DEFAULTS, gseed: -1, m: 40 })
        .map((e) => e.field)
        .sort(),
    ).toEqual(['gseed', 'm']);
    expect(validateState({ ...DEFAULTS, L: 11 }).map((e) => e.field)).toEqual(['L']);
  });

  it('spreads the curve noise levels over the window and skips depths too large for the page', () => {
    const n = curveNoises('eps', 12);
    expect(n).toHaveLength(12);
    expect(n[0]).toBeLessThan(n[11]);
    expect(runnableDepths({ ...DEFAULTS, s: 4, curveDepths: [2, 4, 6] })).toEqual({ depths: [2, 4], skipped: [6] });
  });
});

describe('web datum drawing', () => {
  it('draws every leaf of the clean tree, the noised leaves and the posterior sample, with their symbols', () => {
    const L = 3;
    const levels = [[1], [0, 2], [1, 1, 0, 2], [0, 1, 2, 0, 1, 1, 2, 0]];
    const belief = levels.map((row) => row.map(() => 0.5));
    const d: DatumResult = {
      type: 'datum',
      id: 1,
      ms: 0,
      truth: levels,
      trueBelief: belief,
      noised: [0, -1, 2, 0, 1, 1, 2, 1],
      noisedEvidence: new Array(8).fill(0.9),
      posterior: levels.map((row, l) => (l === L ? [...row.slice(0, 7), 2] : row)),
      posteriorBelief: belief,
      classPosterior: [0.2, 0.8],
      control: 0.5,
    };
    const { svg } = drawDatum(d, { s: 2, v: 3, classes: 2, width: 600, processLabel: 'masking' });
    expect(svg.match(/data-testid="leaf"/g)).toHaveLength(8);
    expect(svg.match(/data-testid="noised-leaf"/g)).toHaveLength(8);
    expect(svg.match(/data-testid="posterior-leaf"/g)).toHaveLength(8);
    expect(svg).toContain('data-symbol="mask"');
    expect(svg.match(/class="node posterior changed"/g)).toHaveLength(1);
    expect(svg.match(/<rect [^>]*data-testid="leaf"/g)).toHaveLength(8);
  });
});
