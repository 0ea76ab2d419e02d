/** src/theory/grid.ts: the one prediction grid of the theory command, the report and the explorer. */
import { describe, expect, it } from 'vitest';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { evenlySpaced, predictAt, theoryGrid } from '../src/theory/grid.ts';
import { predictClassKept } from '../src/theory/meanField.ts';
import { meanFieldPrediction, populationPrediction } from '../src/theory/predict.ts';

const sizes = { vocab: 8, synonyms: 3, tuple: 2, classes: 8 };

describe('theory grid', () => {
  it('evenlySpaced: both ends included, evenly', () => {
    expect(evenlySpaced(0.5, 0.9, 5).map((x) => +x.toFixed(12))).toEqual([0.5, 0.6, 0.7, 0.8, 0.9]);
  });

  it('mean field: depth-major, the same numbers as meanFieldPrediction and predictClassKept', () => {
    const points = theoryGrid({ method: 'mean-field', sizes, process: 'eps' }, [2, 5], [0.6, 0.8]);
    expect(points.map((p) => [p.depth, p.noise])).toEqual([
      [2, 0.6],
      [2, 0.8],
      [5, 0.6],
      [5, 0.8],
    ]);
    for (const p of points) {
      const mf = meanFieldPrediction(sizes, 'eps', p.noise, p.depth);
      expect(p).toEqual({ depth: p.depth, noise: p.noise, leafBelief: mf.leafBelief, classKept: mf.classKept, levelKept: mf.levelKept });
      expect(p.classKept).toBe(predictClassKept(sizes, p.noise, p.depth));
    }
  });

  it('population: the grammars asked once per depth, pooled as populationPrediction pools them', () => {
    const asked: number[] = [];
    let runs = 0;
    const grammarsAt = (depth: number) => (asked.push(depth), [0, 1].map((s) => sampleRules({ ...sizes, depth }, s)));
    const theory = {
      method: 'population' as const,
      grammarsAt,
      process: 'mask' as const,
      schedule: linearSchedule(),
      population: 30,
      seed: 3,
      levels: (depth: number) => depth < 3,
      onRun: () => runs++,
    };
    const points = theoryGrid(theory, [2, 3], [0.2, 0.4]);
    expect(asked).toEqual([2, 3]);
    expect(runs).toBe(8);
    const p = populationPrediction(grammarsAt(3), { process: 'mask', noise: 0.4, schedule: linearSchedule(), population: 30, seed: 3, levels: false });
    expect(points[3]).toEqual({ depth: 3, noise: 0.4, classKept: p.classKept, classKeptGrammarSD: p.classKeptGrammarSD, levelKept: null, upwardKept: p.upwardKept });
    expect(points[0].levelKept).not.toBeNull();
    expect(predictAt(theory, 3, 0.4, grammarsAt(3))).toEqual({ classKept: p.classKept, classKeptGrammarSD: p.classKeptGrammarSD, levelKept: null, upwardKept: p.upwardKept });
  });

  it('annealed: no marginal profile', () => {
    const [p] = theoryGrid({ method: 'annealed', sizes: { ...sizes }, process: 'eps', schedule: linearSchedule(), population: 20, seed: 0 }, [2], [0.5]);
    expect(p.levelKept).toBeNull();
    expect(p.upwardKept).toHaveLength(3);
  });
});
