import { checkInt } from '../core/errors.ts';
import { createRng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount } from '../grammar/params.ts';
import { copies, ruleFrequencies, validity, type RuleUsage } from './evaluate.ts';
import { learnedForwardBackward, type LearnedForwardBackwardRow } from './forwardBackward.ts';
import type { LogitsModel } from './logitsModel.ts';
import { sampleFromModel } from './sampling.ts';
import type { DiscreteSchedule } from './schedule.ts';

/** What `hierdiff evaluate` measures of a learned denoiser (docs/science.md §7). */
export interface ModelEvaluation {
  samples: number;
  /** Fractions of valid nodes for layers 1 … L (layer 1 = the lowest rules, L = the root). */
  validByLayer: number[];
  fullyValid: number;
  /** Fraction of samples identical to a training datum (null without training data). */
  copies: number | null;
  ruleFrequencies: RuleUsage[];
  /** Class and level kept against noise, the model beside exact BP (when asked for). */
  forwardBackward: LearnedForwardBackwardRow[] | null;
}

export interface EvaluateOptions {
  samples: number;
  seed: number;
  batch?: number;
  /** Training tokens (N×d) for the copy fraction. */
  train?: Int32Array;
  /** Times t of the forward–backward comparison, and data per time; none: skipped. */
  forwardBackward?: { times: number[]; samples: number };
  /**
   * Progress in denoising steps (one sample moved one reverse step by the model): `total` is
   * samples·T plus, with `forwardBackward`, its samples·t summed over its times.
   */
  onProgress?: (p: { done: number; total: number }) => void;
}

/**
 * Samples from a learned denoiser with the reverse process of its own noise process, and measures
 * the samples: validity per layer, full validity, copies of the training data, rule usage; with
 * `forwardBackward`, class and level kept against noise beside exact BP on the same data.
 */
export async function evaluateModel(model: LogitsModel, g: Grammar, schedule: DiscreteSchedule, o: EvaluateOptions): Promise<ModelEvaluation> {
  const n = checkInt('samples', o.samples, 1, 1e7);
  const fb = o.forwardBackward;
  const total = n * schedule.steps + (fb ? fb.samples * fb.times.reduce((a, t) => a + t, 0) : 0);
  let done = 0;
  const onStep = o.onProgress ? (k: number) => o.onProgress!({ done: (done += k), total }) : undefined;
  const samples = await sampleFromModel(model, schedule, { count: n, rng: createRng(o.seed, 0), batch: o.batch, onStep });
  const v = validity(g, samples);
  return {
    samples: n,
    validByLayer: v.validByLayer,
    fullyValid: v.fullyValid,
    copies: o.train ? copies(samples, o.train, leafCount(g)) : null,
    ruleFrequencies: ruleFrequencies(g, samples),
    forwardBackward: fb ? await learnedForwardBackward(model, g, schedule, { times: fb.times, samples: fb.samples, seed: o.seed + 1, batch: o.batch, onStep }) : null,
  };
}
