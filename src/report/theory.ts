import type { Grammar } from '../grammar/grammar.ts';
import type { ProcessName } from '../noise/process.ts';
import type { Schedule } from '../noise/schedule.ts';
import { evenlySpaced, theoryGrid, type PopulationTheory, type TheoryGridPoint } from '../theory/grid.ts';
import { criticalPoint, leafBelief, meanFieldDerivative, meanFieldMap, predictClassKept, type MeanFieldParams } from '../theory/meanField.ts';
import type { CurvePoint } from './figures/common.ts';
import type { LevelCurvePoint } from './figures/levels.ts';
import type { Cobweb, FixedPointMark, MeanFieldMapData } from './figures/meanFieldMap.ts';

/** Mean-field predictions a report draws (docs/science.md §5), all plain numbers (written to theory.json). */
export interface MeanFieldTheory {
  /** The process the map predicts: the ε-process, the only one for which it is exact (theory/predict.ts, theoryApplies). */
  process: 'eps';
  method: 'mean-field';
  applies: true;
  params: MeanFieldParams;
  transitionExists: boolean;
  pStar: number | null;
  criticalNoise: number | null;
  lambda: number | null;
  nu: number | null;
  /** P_0 ≈ F^L(p_L) on a fine ε grid, per depth. */
  classKept: CurvePoint[];
  /** P_0 against x = (ε − ε*)·λ^L at a large depth: the limiting scaling function (null without a transition). */
  scaling: { depth: number; points: { x: number; value: number }[] } | null;
  map: MeanFieldMapData;
}

/** Evenly spaced grid from a to b inclusive, `n` points, rounded to 1e−6. */
function fineGrid(a: number, b: number, n: number): number[] {
  if (n < 2 || a === b) return [a];
  return evenlySpaced(a, b, n).map((x) => Math.round(x * 1e6) / 1e6);
}

/**
 * Everything the figures need from the mean-field map for grammar sizes `params`, depths
 * `depths` and the ε range [eps0, eps1] of the data: class-kept curves, the collapse's scaling
 * function and the map with cobwebs from two leaf beliefs on either side of ε*.
 */
export function meanFieldTheory(params: MeanFieldParams, depths: readonly number[], epsRange: [number, number]): MeanFieldTheory {
  const crit = criticalPoint(params);
  const grid = fineGrid(epsRange[0], epsRange[1], 161);
  const classKept = theoryGrid({ method: 'mean-field', sizes: params, process: 'eps' }, depths, grid).map((p) => ({ depth: p.depth, noise: p.noise, value: p.classKept }));
  const deepest = Math.max(...depths);
  let scaling: MeanFieldTheory['scaling'] = null;
  if (crit.transitionExists) {
    const { criticalNoise: ec, lambda } = crit as { criticalNoise: number; lambda: number };
    // Deep enough that λ^−L ≪ the plotted window, shallow enough that ε stays in [0, 1].
    const depth = 40;
    scaling = {
      depth,
      points: fineGrid(-4, 4, 161)
        .map((x) => ({ x, eps: ec + x / lambda ** depth }))
        .filter((p) => p.eps >= 0 && p.eps <= 1)
        .map((p) => ({ x: p.x, value: predictClassKept(params, p.eps, depth) })),
    };
  }
  return {
    process: 'eps',
    method: 'mean-field',
    applies: true,
    params,
    transitionExists: crit.transitionExists,
    pStar: crit.pStar,
    criticalNoise: crit.criticalNoise,
    lambda: crit.lambda,
    nu: crit.nu,
    classKept,
    scaling,
    map: mapData(params, crit.fixedPoints, crit.criticalNoise, deepest),
  };
}

function mapData(params: MeanFieldParams, fixedPoints: number[], criticalNoise: number | null, depth: number): MeanFieldMapData {
  const v = params.vocab;
  const curve = fineGrid(0, 1, 201).map((p) => ({ p, F: meanFieldMap(params, p) }));
  const fixed: FixedPointMark[] = fixedPoints.map((p) => ({
    p,
    stable: meanFieldDerivative(params, p) < 1,
    label: Math.abs(p - 1 / v) < 1e-12 ? '1/v' : p === 1 ? '1' : `p* = ${p.toFixed(3)}`,
  }));
  // Two leaf beliefs 0.05 either side of ε* (or two generic ones without a transition).
  const eps = criticalNoise === null ? [0.3, 0.7] : [criticalNoise - 0.05, criticalNoise + 0.05].map((e) => Math.round(Math.min(1, Math.max(0, e)) * 100) / 100);
  const cobwebs: Cobweb[] = eps.map((e) => {
    let p = leafBelief(params, e);
    const start = p;
    const path = [{ x: p, y: p }];
    for (let l = 0; l < depth; l++) {
      const q = meanFieldMap(params, p);
      path.push({ x: p, y: q }, { x: q, y: q });
      p = q;
    }
    return { label: `ε = ${e.toFixed(2)}: p_L = ${start.toFixed(2)} → p₀ = ${p.toFixed(2)}`, path };
  });
  const { vocab, synonyms, tuple } = params;
  return { curve, fixedPoints: fixed, cobwebs, subtitle: `v = ${vocab}, m = ${synonyms}, s = ${tuple}; cobwebs iterate L = ${depth} levels from the leaves to the root` };
}

/** Population-dynamics predictions of P_0 for one real-noise process (docs/science.md §5, quenched theory). */
export interface PopulationCurves {
  process: ProcessName;
  /** Population dynamics applies to every process (theory/predict.ts, theoryApplies). */
  method: 'population';
  applies: true;
  population: number;
  grammarSeeds: number[];
  /** P_0 at each (depth, noise), averaged over the grammar seeds. */
  points: CurvePoint[];
}

export interface PopulationCurveOptions {
  process: ProcessName;
  depths: readonly number[];
  noises: readonly number[];
  grammarSeeds: readonly number[];
  /** The grammar of a (seed, depth): the same rules the experiment used. */
  grammarFor: (seed: number, depth: number) => Grammar;
  schedule: Schedule;
  /** Messages per (level, symbol). */
  population: number;
  /** Called after each (seed, depth, noise) with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Population dynamics of the exact BP messages on the experiment's own grammars, at the
 * experiment's noise levels: the quenched prediction of P_0 that the mean-field map cannot give
 * for masking, substitution and Gaussian noise (pooled over grammars by populationPrediction).
 */
export function populationCurves(o: PopulationCurveOptions): PopulationCurves {
  const total = o.depths.length * o.noises.length * o.grammarSeeds.length;
  const points: CurvePoint[] = populationGrid(o, o.depths, false, total).map((p) => ({ depth: p.depth, noise: p.noise, value: p.classKept }));
  return { process: o.process, method: 'population', applies: true, population: o.population, grammarSeeds: [...o.grammarSeeds], points };
}

/** Population-dynamics level profile P_ℓ (full BP marginals, docs/science.md §2) at one depth. */
export interface PopulationLevels {
  process: ProcessName;
  method: 'population';
  applies: true;
  depth: number;
  population: number;
  grammarSeeds: number[];
  /** P_ℓ at each (level, noise), averaged over the grammar seeds. */
  points: LevelCurvePoint[];
}

/**
 * Population dynamics with the downward pass on the experiment's grammars at one depth: the
 * predicted level profile P_ℓ(noise), marginals included, to set against the measured profile.
 */
export function populationLevels(o: Omit<PopulationCurveOptions, 'depths'> & { depth: number }): PopulationLevels {
  const points: LevelCurvePoint[] = [];
  for (const p of populationGrid(o, [o.depth], true, o.noises.length * o.grammarSeeds.length)) {
    (p.levelKept ?? p.upwardKept).forEach((value, level) => points.push({ level, noise: p.noise, value }));
  }
  return { process: o.process, method: 'population', applies: true, depth: o.depth, population: o.population, grammarSeeds: [...o.grammarSeeds], points };
}

/** Population dynamics on the experiment's grammars at every depth × noise (theory/grid.ts), with progress of `total` runs. */
function populationGrid(o: Omit<PopulationCurveOptions, 'depths'>, depths: readonly number[], levels: boolean, total: number): TheoryGridPoint<PopulationTheory>[] {
  let done = 0;
  const onRun = () => o.onProgress?.(++done, total);
  const grammarsAt = (depth: number) => o.grammarSeeds.map((seed) => o.grammarFor(seed, depth));
  return theoryGrid({ method: 'population', grammarsAt, process: o.process, schedule: o.schedule, population: o.population, levels: () => levels, onRun }, depths, o.noises);
}
