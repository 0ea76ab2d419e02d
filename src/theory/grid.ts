/**
 * The theory's predictions on a grid of depths × noise levels: one function for the theory
 * command, the report's curves and the explorer's, so each draws the same numbers for the same
 * inputs (docs/theory.md).
 */
import type { Grammar } from '../grammar/grammar.ts';
import type { ProcessName } from '../noise/process.ts';
import type { Schedule } from '../noise/schedule.ts';
import { annealedPopulationDynamics } from './annealedPopulation.ts';
import type { MeanFieldParams } from './meanField.ts';
import { meanFieldPrediction, populationPrediction } from './predict.ts';

/** `n` evenly spaced values from a to b inclusive (n ≥ 2). */
export function evenlySpaced(a: number, b: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => a + ((b - a) * k) / (n - 1));
}

/** The mean-field map (meanFieldPrediction). */
export interface MeanFieldGridTheory {
  method: 'mean-field';
  sizes: MeanFieldParams;
  process: ProcessName;
  schedule?: Schedule;
}

/** Population dynamics on fresh random rules at every node, no grammar (annealedPopulationDynamics). */
export interface AnnealedTheory {
  method: 'annealed';
  sizes: Required<MeanFieldParams>;
  process: ProcessName;
  schedule: Schedule;
  population: number;
  seed: number;
}

/** Population dynamics on grammars, pooled (populationPrediction). */
export interface PopulationTheory {
  method: 'population';
  /** The grammars at a depth: asked once per depth. */
  grammarsAt: (depth: number) => readonly Grammar[];
  process: ProcessName;
  schedule?: Schedule;
  population?: number;
  seed?: number;
  /** Whether to run the downward pass (the level profile P_ℓ) at a depth. */
  levels: (depth: number) => boolean;
  /** Called after each grammar's run (for progress). */
  onRun?: () => void;
}

/** What the grid predicts with, and on what. */
export type GridTheory = MeanFieldGridTheory | AnnealedTheory | PopulationTheory;

/** The mean field at one point (meanFieldPrediction). */
export interface MeanFieldPoint {
  leafBelief: number;
  classKept: number;
  levelKept: number[];
}

/** Annealed population dynamics at one point: no marginal profile. */
export interface AnnealedPoint {
  classKept: number;
  levelKept: null;
  upwardKept: number[];
}

/** Population dynamics at one point, pooled over the depth's grammars. */
export interface PopulationPoint {
  classKept: number;
  classKeptGrammarSD: number | null;
  levelKept: number[] | null;
  upwardKept: number[];
}

export type TheoryPrediction = MeanFieldPoint | AnnealedPoint | PopulationPoint;

/** What a theory predicts at one point. */
export type PredictionOf<T extends GridTheory> = T extends { method: 'mean-field' } ? MeanFieldPoint : T extends { method: 'annealed' } ? AnnealedPoint : PopulationPoint;

/** One point of the grid: where, then what (fields in the order results files write them). */
export type TheoryGridPoint<T extends GridTheory = GridTheory> = { depth: number; noise: number } & PredictionOf<T>;

/** The prediction at one depth and noise; `grammars`: the depth's grammars (population only). */
export function predictAt<T extends GridTheory>(theory: T, depth: number, noise: number, grammars?: readonly Grammar[]): PredictionOf<T>;
export function predictAt(theory: GridTheory, depth: number, noise: number, grammars: readonly Grammar[] = []): TheoryPrediction {
  switch (theory.method) {
    case 'mean-field': {
      const mf = meanFieldPrediction(theory.sizes, theory.process, noise, depth, theory.schedule);
      return { leafBelief: mf.leafBelief, classKept: mf.classKept, levelKept: mf.levelKept };
    }
    case 'annealed': {
      const { process, schedule, population, seed } = theory;
      const r = annealedPopulationDynamics({ ...theory.sizes, depth }, { process, noise, schedule, population, seed });
      return { classKept: r.classKept, levelKept: null, upwardKept: r.upwardKept };
    }
    case 'population': {
      const { process, schedule, population, seed, onRun } = theory;
      const r = populationPrediction(grammars, { process, noise, schedule, population, seed, levels: theory.levels(depth), onRun });
      return { classKept: r.classKept, classKeptGrammarSD: r.classKeptGrammarSD, levelKept: r.levelKept, upwardKept: r.upwardKept };
    }
  }
}

/** The predictions at every depth × noise, depth-major, in the order given. */
export function theoryGrid<T extends GridTheory>(theory: T, depths: readonly number[], noises: readonly number[]): TheoryGridPoint<T>[] {
  return depths.flatMap((depth): TheoryGridPoint<T>[] => {
    const t: GridTheory = theory;
    const grammars = t.method === 'population' ? t.grammarsAt(depth) : [];
    return noises.map((noise) => ({ depth, noise, ...predictAt(theory, depth, noise, grammars) }));
  });
}
