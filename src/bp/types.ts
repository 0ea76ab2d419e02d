import { checkInt, ParamError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { TreeBatch } from '../grammar/generate.ts';

/** A float buffer: float64 for the reference, float32 allowed for fast paths. */
export type FloatArray = Float64Array | Float32Array;

/**
 * Normalised upward messages ν↑ (docs/science.md §2) for a batch. `messages[ℓ]` has length count·s^ℓ·N_ℓ,
 * datum-major then node then symbol: datum n, node i, symbol a at `[(n·s^ℓ + i)·N_ℓ + a]`
 * (N_0 = n_c, else v). `logEvidence[n]` = log p(observation of datum n) = log Σ_trees P(tree)·Π_i λ_i(x_i)
 * for the likelihoods exactly as given.
 */
export interface UpwardMessages {
  readonly count: number;
  readonly messages: readonly FloatArray[];
  readonly logEvidence: Float64Array;
  /**
   * The data whose evidence the linear float pass could not represent (its normalisers came too
   * close to underflow, see src/bp/logDomain.ts), redone in the log domain: datum index → its
   * normalised log messages log ν↑ per level ([node·N_ℓ + a], log Σ_a exp = 0 per node).
   * `messages` then hold exp of them (where they underflow, the float's zero); `marginals` and
   * `sample` use the log messages for these data. Absent when no datum needed it.
   */
  readonly logDomain?: ReadonlyMap<number, readonly Float64Array[]>;
}

/**
 * Posterior marginals μ_ℓ(i, a) = p(z_ℓ,i = a | observation) at every level, same layout as
 * {@link UpwardMessages.messages}. `marginals[L]` is the exact denoiser E[x_0 | x_t] for one-hot
 * tokens; `marginals[0]` is the class posterior.
 */
export type Marginals = readonly FloatArray[];

/**
 * Evidence that is one value on the observed token and another on every other symbol (the ε and
 * uniform processes, docs/science.md §3): λ_i(b) = `hit` if b = tokens[i], else `floor`.
 */
export interface TokenEvidence {
  /** Observed tokens of the whole batch, count·d, datum-major, each in [0, v). */
  readonly tokens: Int32Array;
  /** λ(b) for b ≠ the observed token, and for b = it (before normalisation). */
  readonly floor: number;
  readonly hit: number;
}

/** The evidence of one batch of data and what the experiment asks of BP for it (see {@link BpBackend.batch}). */
export interface BatchRequest {
  readonly count: number;
  /** Writes the leaf likelihoods of data [start, end) (token-major, (end−start)·d·v floats) into `out`. */
  likelihood(start: number, end: number, out: Float64Array): void;
  /**
   * Optional: the same likelihoods in the log domain (exact, never underflowing), for the data the
   * linear pass cannot represent (src/bp/logDomain.ts). Without it, log of `likelihood` (or of the
   * token evidence) is used.
   */
  logLikelihood?(start: number, end: number, out: Float64Array): void;
  readonly rng: Rng;
  /** K: posterior trees per datum. */
  readonly trajectories: number;
  /** Clean trees: when given, the marginal level estimator is computed against them. */
  readonly truth: TreeBatch | null;
  /**
   * Optional: the same evidence as `likelihood` in token form. A backend may build the leaf
   * messages from it instead of calling `likelihood`; the results are the same bit for bit.
   */
  readonly tokenEvidence?: TokenEvidence | null;
}

/** What {@link BpBackend.batch} returns. */
export interface BatchResult {
  /** log p(observation) per datum. */
  readonly logEvidence: Float64Array;
  /** Class posterior μ_0 = ν↑_0, count·n_c, datum-major. */
  readonly rootPosterior: FloatArray;
  /** K posterior trees per datum (trajectory t of datum n is row n·K + t). */
  readonly posterior: TreeBatch;
  /**
   * If truth was given: count·(L+1), datum-major, the mean over the nodes of level ℓ of the
   * posterior marginal of the true symbol, (1/s^ℓ)·Σ_i μ_ℓ(i, z_ℓ,i) (docs/science.md §4, marginal estimator).
   */
  readonly levelMarginalKept: Float64Array | null;
}

/**
 * One implementation of exact BP. The reference (float64, readable) and the fast kernels share
 * this interface and one test suite. Leaf likelihoods `lambda` are count·d·v floats, token-major.
 */
export interface BpBackend {
  readonly name: string;
  /**
   * The experiment's batch (docs/science.md §4): evidence → upward → K posterior samples per
   * datum → (with truth) the marginal level estimator. Equals upward + marginals + sample of the
   * same backend with the same random stream use (src/bp/batch.ts `batchFromSweeps`); the fast
   * backends fuse it into one pass over cache-sized chunks of data.
   */
  batch(g: Grammar, request: BatchRequest): BatchResult;
  /**
   * Upward sweep (docs/science.md §2). Throws InconsistentEvidenceError when some node has zero
   * weight in exact arithmetic (hard evidence no tree explains); soft evidence whose likelihood
   * ratios underflow the float is redone in the log domain, never reported as inconsistent.
   * `logLambda` (optional, same layout as `lambda`): the exact log-likelihoods, log λ up to a
   * constant per leaf, used for the data the linear pass cannot represent (without it, log λ
   * of the floats given). Give it when λ itself underflows (e.g. Gaussian noise at small t/T).
   */
  upward(g: Grammar, lambda: FloatArray, count: number, logLambda?: Float64Array): UpwardMessages;
  /** Downward sweep and marginals at every level (docs/science.md §2). */
  marginals(g: Grammar, up: UpwardMessages): Marginals;
  /**
   * Exact posterior samples (docs/science.md §2): `trajectories` independent trees per datum; trajectory t of
   * datum n is batch entry n·trajectories + t.
   */
  sample(g: Grammar, up: UpwardMessages, rng: Rng, trajectories: number): TreeBatch;
}

/**
 * Validation at the public boundary of every backend (kernels trust their inputs). Throws a
 * ParamError naming the parameter; zero evidence is left to the kernels, which raise
 * InconsistentEvidenceError.
 */
function isFloatArray(x: unknown): x is FloatArray {
  return x instanceof Float64Array || x instanceof Float32Array;
}

/** `count` a positive integer and `lambda` count·d·v finite non-negative floats with a finite sum per leaf. */
export function checkUpwardInputs(g: Grammar, lambda: FloatArray, count: number): void {
  checkInt('count', count, 1);
  if (!isFloatArray(lambda)) throw new ParamError('lambda', 'invalid lambda (expected a Float64Array or Float32Array)');
  const v = g.vocab;
  const leaves = count * g.tuple ** g.depth;
  if (lambda.length !== leaves * v) {
    throw new ParamError('lambda', `invalid lambda: got ${lambda.length} floats (expected count·tuple^depth·vocab = ${leaves * v})`);
  }
  for (let i = 0; i < leaves; i++) {
    let z = 0;
    for (let b = 0; b < v; b++) {
      const x = lambda[i * v + b];
      if (!(x >= 0 && x < Infinity)) throw new ParamError('lambda', `invalid lambda ${String(x)} at index ${i * v + b} (expected a finite number >= 0)`);
      z += x;
    }
    if (z === Infinity) throw new ParamError('lambda', `invalid lambda: the likelihoods of leaf ${i} sum to Infinity`);
  }
}

/** Optional exact log-likelihoods: a Float64Array of lambda's length, entries in [−∞, ∞) (not NaN). */
export function checkLogLambda(lambda: FloatArray, logLambda: Float64Array | undefined): void {
  if (logLambda === undefined) return;
  if (!(logLambda instanceof Float64Array)) throw new ParamError('logLambda', 'invalid logLambda (expected a Float64Array)');
  if (logLambda.length !== lambda.length) throw new ParamError('logLambda', `invalid logLambda: got ${logLambda.length} floats (expected ${lambda.length}, as lambda)`);
  for (let i = 0; i < logLambda.length; i++) {
    const x = logLambda[i];
    if (!(x < Infinity)) throw new ParamError('logLambda', `invalid logLambda ${String(x)} at index ${i} (expected a number < Infinity, or -Infinity)`);
  }
}

/** Upward messages of the shape `upward` returns for this grammar, with finite non-negative entries. */
export function checkUpwardMessages(g: Grammar, up: UpwardMessages): void {
  if (typeof up !== 'object' || up === null) throw new ParamError('up', 'invalid up (expected upward messages)');
  const { count, messages } = up;
  if (!Number.isInteger(count) || count < 1) throw new ParamError('up', `invalid up.count ${String(count)} (expected an integer >= 1)`);
  if (!Array.isArray(messages) || messages.length !== g.depth + 1) {
    throw new ParamError('up', `invalid up.messages (expected ${g.depth + 1} levels)`);
  }
  for (let level = 0; level <= g.depth; level++) {
    const msg = messages[level];
    const expected = count * g.tuple ** level * (level === 0 ? g.classes : g.vocab);
    if (!isFloatArray(msg) || msg.length !== expected) {
      throw new ParamError('up', `invalid up.messages[${level}] (expected ${expected} floats for up.count ${count})`);
    }
    for (let i = 0; i < msg.length; i++) {
      const x = msg[i];
      if (!(x >= 0 && x < Infinity)) throw new ParamError('up', `invalid up.messages[${level}][${i}] ${String(x)} (expected a finite number >= 0)`);
    }
  }
  const logDomain = up.logDomain;
  if (logDomain === undefined) return;
  if (!(logDomain instanceof Map)) throw new ParamError('up', 'invalid up.logDomain (expected a Map from datum to log messages)');
  for (const [n, levels] of logDomain) {
    if (!Number.isInteger(n) || n < 0 || n >= count) throw new ParamError('up', `invalid up.logDomain datum ${String(n)} (expected an integer in [0, ${count - 1}])`);
    if (!Array.isArray(levels) || levels.length !== g.depth + 1) throw new ParamError('up', `invalid up.logDomain of datum ${n} (expected ${g.depth + 1} levels)`);
    for (let level = 0; level <= g.depth; level++) {
      const msg: unknown = levels[level];
      const expected = g.tuple ** level * (level === 0 ? g.classes : g.vocab);
      if (!(msg instanceof Float64Array) || msg.length !== expected) throw new ParamError('up', `invalid up.logDomain of datum ${n}, level ${level} (expected a Float64Array of ${expected})`);
      for (let i = 0; i < msg.length; i++) {
        // A log-probability: at most 0, up to the round-off of a normalisation.
        if (!(msg[i] <= 1e-9)) throw new ParamError('up', `invalid up.logDomain of datum ${n}, level ${level}: ${String(msg[i])} at ${i} (expected a log-probability <= 0)`);
      }
    }
  }
}

/** Validates the arguments of `sample`. */
export function checkSampleInputs(g: Grammar, up: UpwardMessages, trajectories: number): void {
  checkUpwardMessages(g, up);
  checkInt('trajectories', trajectories, 1);
}
