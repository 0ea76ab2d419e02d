import { referenceBackend } from '../bp/reference.ts';
import { checkInt, ParamError } from '../core/errors.ts';
import { createRng } from '../core/random.ts';
import { generate } from '../grammar/generate.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount, nodesAt } from '../grammar/params.ts';
import { parse } from '../grammar/validity.ts';
import { MASK } from '../noise/process.ts';
import type { LogitsModel } from './logitsModel.ts';
import { noiseTo, sampleFromModel } from './sampling.ts';
import type { DiscreteSchedule } from './schedule.ts';

/** What one denoiser kept at one time: the observables of the BP experiment (docs/science.md §4), sampled estimator. */
export interface KeptStats {
  /** Fraction of data whose generated sample parses to the original class. */
  classKept: number;
  classKeptSE: number;
  /** levelKept[ℓ], ℓ = 0 (root) … L (tokens): fraction of nodes whose parsed symbol is the original latent (an unparsable node counts as changed). */
  levelKept: number[];
  /** Fraction of generated samples valid at every level. */
  fullyValid: number;
}

/** One time t of the learned-vs-exact comparison. */
export interface LearnedForwardBackwardRow {
  /** Time step t ∈ 1 … T of the discrete schedule, and t/T. */
  t: number;
  tOverT: number;
  /** The noise level: 1 − ᾱ_t (uniform: the resampling probability ε; mask: the masked fraction). */
  noise: number;
  samples: number;
  /** The trained model's reverse chain from x_t. */
  model: KeptStats;
  /** An exact posterior sample given the same x_t (BP, docs/science.md §2): the ideal denoiser. */
  bp: KeptStats;
}

export interface LearnedForwardBackwardOptions {
  /** Times t ∈ 1 … T. */
  times: readonly number[];
  /** Data per time. */
  samples: number;
  seed: number;
  /** Samples per model call. */
  batch?: number;
  /** Progress of the model's reverse chains (see SampleOptions.onStep): t·samples per time t in all. */
  onStep?: (samples: number) => void;
}

/** Leaf likelihoods of x_t under the model's process (token-major, N×d×v). */
function leafLikelihood(process: 'uniform' | 'mask', xt: Int32Array, v: number, alphaBar: number): Float64Array {
  const lambda = new Float64Array(xt.length * v);
  for (let k = 0; k < xt.length; k++) {
    const base = k * v;
    if (xt[k] === MASK) lambda.fill(1 / v, base, base + v);
    else if (process === 'mask') lambda[base + xt[k]] = 1;
    else {
      lambda.fill((1 - alphaBar) / v, base, base + v);
      lambda[base + xt[k]] += alphaBar;
    }
  }
  return lambda;
}

/** Class kept, level kept and validity of generated tokens against the true latent trees. */
function keptStats(g: Grammar, truth: readonly Int32Array[], generated: Int32Array, n: number): KeptStats {
  const d = leafCount(g);
  const L = g.depth;
  const kept = new Array<number>(L + 1).fill(0);
  let classKept = 0;
  let valid = 0;
  for (let k = 0; k < n; k++) {
    const p = parse(g, generated.subarray(k * d, (k + 1) * d));
    for (let level = 0; level <= L; level++) {
      const width = nodesAt(g, level);
      let same = 0;
      for (let i = 0; i < width; i++) if (p.symbols[level][i] === truth[level][k * width + i]) same++;
      kept[level] += same / width;
    }
    if (p.symbols[0][0] === truth[0][k]) classKept++;
    if (p.valid[0]) valid++;
  }
  const p0 = classKept / n;
  return { classKept: p0, classKeptSE: Math.sqrt((p0 * (1 - p0)) / n), levelKept: kept.map((x) => x / n), fullyValid: valid / n };
}

/**
 * The forward–backward experiment with a learned denoiser beside exact BP, on the same data and the
 * same noisy x_t: for each time t, draw `samples` data (with their latent trees) from the grammar,
 * noise them to x_t with the model's own process and schedule, then denoise x_t twice — the model's
 * reverse chain from t to 0, and one exact posterior sample from BP — and compare each with the
 * original tree by parsing the generated tokens. Random streams come from (seed, t).
 */
export async function learnedForwardBackward(model: LogitsModel, g: Grammar, schedule: DiscreteSchedule, o: LearnedForwardBackwardOptions): Promise<LearnedForwardBackwardRow[]> {
  const n = checkInt('samples', o.samples, 1, 1e7);
  if (model.vocab !== g.vocab || model.length !== leafCount(g)) {
    throw new ParamError('model', `invalid model for this grammar: it takes v = ${model.vocab}, d = ${model.length}; the grammar has v = ${g.vocab}, d = ${leafCount(g)}`);
  }
  const rows: LearnedForwardBackwardRow[] = [];
  for (const t of o.times) {
    checkInt('times', t, 1, schedule.steps);
    const data = generate(g, n, createRng(o.seed, t, 0));
    const x0 = data.levels[g.depth];
    const xt = noiseTo(model.process, x0, t, schedule, createRng(o.seed, t, 1), g.vocab);
    const generated = await sampleFromModel(model, schedule, { count: n, from: { tokens: xt, t }, rng: createRng(o.seed, t, 2), batch: o.batch, onStep: o.onStep });
    const up = referenceBackend.upward(g, leafLikelihood(model.process, xt, g.vocab, schedule.alphaBar[t]), n);
    const exact = referenceBackend.sample(g, up, createRng(o.seed, t, 3), 1).levels[g.depth];
    rows.push({ t, tOverT: t / schedule.steps, noise: 1 - schedule.alphaBar[t], samples: n, model: keptStats(g, data.levels, generated, n), bp: keptStats(g, data.levels, exact, n) });
  }
  return rows;
}
