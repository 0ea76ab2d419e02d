import { checkNumber, ParamError, resolveVariant } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import { alphaBarAtFraction, type Schedule } from './schedule.ts';

/** The four noise processes of docs/science.md §3. */
export type ProcessName = 'eps' | 'uniform' | 'mask' | 'gaussian';
export const PROCESS_NAMES: readonly ProcessName[] = ['eps', 'uniform', 'mask', 'gaussian'];

/**
 * Each process's component of the random-stream keys (src/experiment/forwardBackward.ts). Fixed
 * per process, not a position in a list: these values must never change, or every result moves.
 */
export const PROCESS_STREAM_IDS: Readonly<Record<ProcessName, number>> = { eps: 0, uniform: 1, mask: 2, gaussian: 3 };

export function resolveProcess(value: string): ProcessName {
  return resolveVariant('process', value, PROCESS_NAMES);
}

/** Marks a masked token in a token observation. */
export const MASK = -1;

/**
 * What the backward process sees at the leaves: noisy tokens (eps: the clean tokens themselves;
 * uniform: substituted tokens; mask: tokens with {@link MASK}), or for gaussian the vectors x_t,
 * `count·d·v` floats, token-major.
 */
export type Observation = { readonly kind: 'tokens'; readonly tokens: Int32Array } | { readonly kind: 'vectors'; readonly vectors: Float64Array };

/**
 * A forward noise process at one noise level. `control` is ε for eps, uniform and mask, and ᾱ for
 * gaussian. Leaf likelihoods are written into `out` as `count·d·v` floats (token-major: token i's
 * likelihood of symbol b at [i·v + b]), the layout BP reads.
 */
export interface NoiseProcess {
  readonly name: ProcessName;
  readonly control: number;
  /** Draws x_t given clean tokens x_0 (docs/science.md §3, "forward corruption"). */
  sample(x0: Int32Array, vocab: number, rng: Rng): Observation;
  /** The leaf likelihood λ_i(b) ∝ p(observation_i | x_i = b) (docs/science.md §3). */
  likelihood(obs: Observation, vocab: number, out: Float64Array): void;
  /**
   * The same likelihoods in the log domain, log λ_i(b) (−Infinity where λ is exactly 0), computed
   * without exponentiating, so they never underflow: BP uses them for the data whose likelihood
   * ratios a float cannot hold (docs/limits.md, "Soft evidence"). exp of them equals `likelihood`
   * up to round-off. Optional for other implementations (BP then takes log of `likelihood`).
   */
  logLikelihood?(obs: Observation, vocab: number, out: Float64Array): void;
  /**
   * Optional, for processes whose evidence is one value on the observed token and another on
   * every other symbol (eps, uniform): the tokens and λ(b) = `hit` if b is the token, else
   * `floor` — exactly what `likelihood` writes, in compact form (the experiment hands it to BP
   * as `BatchRequest.tokenEvidence`, src/bp/types.ts).
   */
  tokenEvidence?(obs: Observation, vocab: number): { tokens: Int32Array; floor: number; hit: number };
}

function expectTokens(obs: Observation): Int32Array {
  if (obs.kind !== 'tokens') throw new ParamError('observation', 'invalid observation: this process observes tokens, not vectors');
  return obs.tokens;
}

/** `(1−ε)·1[b = x] + ε/v` for every token x: the soft evidence shared by eps and uniform. */
function softTokenLikelihood(tokens: Int32Array, eps: number, v: number, out: Float64Array): void {
  const floor = eps / v;
  out.fill(floor, 0, tokens.length * v);
  for (let i = 0; i < tokens.length; i++) out[i * v + tokens[i]] += 1 - eps;
}

/** log of {@link softTokenLikelihood}: log(ε/v) off the token, log(1 − ε + ε/v) on it, without underflow at tiny ε. */
function softTokenLogLikelihood(tokens: Int32Array, eps: number, v: number, out: Float64Array): void {
  const logFloor = Math.log(eps) - Math.log(v);
  const logHit = Math.log1p(-eps * (1 - 1 / v));
  out.fill(logFloor, 0, tokens.length * v);
  for (let i = 0; i < tokens.length; i++) out[i * v + tokens[i]] = logHit;
}

/** The same evidence as token values: λ(b) = floor + (1 − ε) on the token (as computed above). */
function softTokenEvidence(obs: Observation, eps: number, v: number): { tokens: Int32Array; floor: number; hit: number } {
  const floor = eps / v;
  return { tokens: expectTokens(obs), floor, hit: floor + (1 - eps) };
}

/** The evidence of eps and uniform: (1−ε)·1[b = x] + ε/v on each observed token x. */
function softEvidence(eps: number): Pick<NoiseProcess, 'likelihood' | 'logLikelihood' | 'tokenEvidence'> {
  return {
    likelihood: (obs, v, out) => softTokenLikelihood(expectTokens(obs), eps, v, out),
    logLikelihood: (obs, v, out) => softTokenLogLikelihood(expectTokens(obs), eps, v, out),
    tokenEvidence: (obs, v) => softTokenEvidence(obs, eps, v),
  };
}

/** x_0 with each token replaced, with probability ε, by `replacement()` (drawn after that token's coin). */
function corruptTokens(x0: Int32Array, eps: number, rng: Rng, replacement: () => number): Observation {
  const xt = x0.slice();
  for (let i = 0; i < xt.length; i++) if (rng.nextFloat() < eps) xt[i] = replacement();
  return { kind: 'tokens', tokens: xt };
}

/** Hard evidence of masked tokens: `masked` on every symbol of a masked leaf, else `on` at the token and `off` elsewhere. */
function maskEvidence(tokens: Int32Array, v: number, out: Float64Array, value: { masked: number; off: number; on: number }): void {
  for (let i = 0; i < tokens.length; i++) {
    const x = tokens[i];
    if (x === MASK) out.fill(value.masked, i * v, (i + 1) * v);
    else {
      out.fill(value.off, i * v, (i + 1) * v);
      out[i * v + x] = value.on;
    }
  }
}

/** ε-process (theory): no corruption, soft evidence on the clean token. */
export function epsProcess(eps: number): NoiseProcess {
  return {
    name: 'eps',
    control: eps,
    sample: (x0) => ({ kind: 'tokens', tokens: x0.slice() }),
    ...softEvidence(eps),
  };
}

/** Uniform (D3PM) substitution: with probability ε resample uniformly (may equal x_0). */
export function uniformProcess(eps: number): NoiseProcess {
  return {
    name: 'uniform',
    control: eps,
    sample: (x0, v, rng) => corruptTokens(x0, eps, rng, () => rng.nextInt(v)),
    ...softEvidence(eps),
  };
}

/** Masking (absorbing): with probability ε replace by MASK; visible tokens are hard evidence. */
export function maskProcess(eps: number): NoiseProcess {
  return {
    name: 'mask',
    control: eps,
    sample: (x0, _v, rng) => corruptTokens(x0, eps, rng, () => MASK),
    // A masked leaf says nothing: a flat 1/v keeps every leaf normalised.
    likelihood: (obs, v, out) => maskEvidence(expectTokens(obs), v, out, { masked: 1 / v, off: 0, on: 1 }),
    logLikelihood: (obs, v, out) => maskEvidence(expectTokens(obs), v, out, { masked: -Math.log(v), off: -Infinity, on: 0 }),
  };
}

/**
 * Walks the leaves of gaussian vectors x_t (`v` values each): at ᾱ = 1 (`scale` infinite) writes
 * the one-hot `hard` of each leaf's argmax, otherwise has `soft` write the leaf from its max.
 */
function gaussianLeaves(obs: Observation, v: number, out: Float64Array, scale: number, hard: { off: number; on: number }, soft: (x: Float64Array, i: number, max: number) => void): void {
  if (obs.kind !== 'vectors') throw new ParamError('observation', 'invalid observation: the gaussian process observes vectors, not tokens');
  const x = obs.vectors;
  const d = x.length / v;
  for (let i = 0; i < d; i++) {
    let best = 0;
    for (let b = 1; b < v; b++) if (x[i * v + b] > x[i * v + best]) best = b;
    if (scale === Infinity) {
      out.fill(hard.off, i * v, (i + 1) * v);
      out[i * v + best] = hard.on;
    } else soft(x, i, x[i * v + best]);
  }
}

/**
 * Gaussian noise on one-hot tokens: x_t = √ᾱ e_{x_0} + √(1−ᾱ) ξ. Likelihood
 * softmax_b(x_t[b]·√ᾱ/(1−ᾱ)), max-subtracted so it never overflows; at ᾱ = 1 it is the one-hot
 * of the argmax.
 */
export function gaussianProcess(alphaBar: number): NoiseProcess {
  const signal = Math.sqrt(alphaBar);
  const noise = Math.sqrt(1 - alphaBar);
  const scale = alphaBar < 1 ? signal / (1 - alphaBar) : Infinity;
  return {
    name: 'gaussian',
    control: alphaBar,
    sample(x0, v, rng) {
      const vectors = new Float64Array(x0.length * v);
      for (let i = 0; i < x0.length; i++) {
        for (let b = 0; b < v; b++) vectors[i * v + b] = noise * rng.normal();
        vectors[i * v + x0[i]] += signal;
      }
      return { kind: 'vectors', vectors };
    },
    likelihood: (obs, v, out) =>
      gaussianLeaves(obs, v, out, scale, { off: 0, on: 1 }, (x, i, max) => {
        let sum = 0;
        for (let b = 0; b < v; b++) {
          const e = Math.exp((x[i * v + b] - max) * scale);
          out[i * v + b] = e;
          sum += e;
        }
        for (let b = 0; b < v; b++) out[i * v + b] /= sum;
      }),
    // log softmax_b(x_t[b]·√ᾱ/(1−ᾱ)) = (x_t[b] − max)·scale − log Σ_b' exp((x_t[b'] − max)·scale):
    // finite for every b however large the scale (the Gaussian log-likelihood up to a constant).
    logLikelihood: (obs, v, out) =>
      gaussianLeaves(obs, v, out, scale, { off: -Infinity, on: 0 }, (x, i, max) => {
        let sum = 0;
        for (let b = 0; b < v; b++) {
          out[i * v + b] = (x[i * v + b] - max) * scale;
          sum += Math.exp(out[i * v + b]);
        }
        const lz = Math.log(sum);
        for (let b = 0; b < v; b++) out[i * v + b] -= lz;
      }),
  };
}

/**
 * The control of a process at a user-facing noise level: for eps, uniform and mask `noise` is ε
 * itself; for gaussian it is the time fraction t/T ∈ [0, 1] of `schedule` (t = 0 clean), mapped
 * to ᾱ_t. Checks the name, the level and the schedule (the one resolver of the three).
 */
export function noiseControl(name: ProcessName, noise: number, schedule?: Schedule): number {
  if (resolveProcess(name) !== 'gaussian') return checkNumber('noise', noise, 0, 1);
  if (!schedule) throw new ParamError('schedule', 'the gaussian process needs a schedule');
  return alphaBarAtFraction(schedule, noise);
}

const BUILDERS: Readonly<Record<ProcessName, (control: number) => NoiseProcess>> = {
  eps: epsProcess,
  uniform: uniformProcess,
  mask: maskProcess,
  gaussian: gaussianProcess,
};

/**
 * The process at a user-facing noise level (see {@link noiseControl}): the one resolver from
 * process name, level and schedule to the process. The builders above take a checked control.
 */
export function makeProcess(name: ProcessName, noise: number, schedule?: Schedule): NoiseProcess {
  const control = noiseControl(name, noise, schedule);
  return BUILDERS[name](control);
}

/** Leaf log-likelihoods of an observation: the process's own, else log of its likelihoods. */
export function leafLogLikelihood(process: NoiseProcess, obs: Observation, vocab: number, out: Float64Array): void {
  if (process.logLikelihood) {
    process.logLikelihood(obs, vocab, out);
    return;
  }
  process.likelihood(obs, vocab, out);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(out[i]);
}
