/**
 * Theory beside simulation: for each forward–backward row (one depth, process and noise level,
 * pooled over grammar seeds), the mean-field prediction and the population-dynamics prediction on
 * the very grammars the row simulated, each marked with whether it applies to the row's process
 * (the mean field does not for mask, uniform and gaussian: predict.ts, theoryApplies).
 */
import type { Grammar } from '../grammar/grammar.ts';
import type { ProcessName } from '../noise/process.ts';
import type { Schedule } from '../noise/schedule.ts';
import type { MeanFieldParams } from './meanField.ts';
import { meanFieldPrediction, populationPrediction, theoryApplies, type MeanFieldPrediction, type PopulationPrediction } from './predict.ts';

/** What a row must say about itself (a structural subset of experiment's ForwardBackwardRow). */
export interface RowKey {
  readonly depth: number;
  readonly process: ProcessName;
  /** ε (eps, uniform, mask) or t/T (gaussian). */
  readonly noise: number;
  readonly grammarSeeds: readonly number[];
}

/** Whether the prediction applies to the row's process (theoryApplies): false for the mean field on mask, uniform and gaussian. */
export interface Applicability {
  applies: boolean;
}

export interface RowTheory {
  meanField: MeanFieldPrediction & Applicability;
  population: PopulationPrediction & Applicability;
}

/** Population size used beside simulations: SD of P_0 ≈ 0.01 near the transition (docs/theory.md). */
export const ROW_POPULATION = 2000;

/**
 * Predictions for each row. `grammarFor(seed, depth)` must return the grammar the row simulated.
 * Population runs skip the downward pass for depths whose profile would not fit in memory.
 */
export function theoryForRows(
  rows: readonly RowKey[],
  grammarFor: (seed: number, depth: number) => Grammar,
  o: MeanFieldParams & { schedule: Schedule; population?: number; seed?: number },
): RowTheory[] {
  const population = o.population ?? ROW_POPULATION;
  const sizes: MeanFieldParams = { vocab: o.vocab, synonyms: o.synonyms, tuple: o.tuple, ...(o.classes !== undefined ? { classes: o.classes } : {}) };
  return rows.map((r) => ({
    meanField: { ...meanFieldPrediction(sizes, r.process, r.noise, r.depth, o.schedule), applies: theoryApplies('mean-field', r.process) },
    population: {
      ...populationPrediction(
        r.grammarSeeds.map((s) => grammarFor(s, r.depth)),
        { process: r.process, noise: r.noise, schedule: o.schedule, population, seed: o.seed ?? 0, levels: (r.depth + 1) * o.vocab ** 2 * population * 8 <= 2 ** 29 },
      ),
      applies: theoryApplies('population', r.process),
    },
  }));
}
