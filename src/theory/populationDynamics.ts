/**
 * Population dynamics (density evolution) of the exact BP messages of docs/science.md §2 on a given grammar:
 * a quenched theory of the forward–backward experiment (docs/science.md §4) whose cost does not grow with
 * s^L.
 *
 * Given the grammar, a node's upward message depends only on its subtree, and the subtrees below
 * nodes holding the same symbol are i.i.d. So for every level ℓ and symbol a we keep N messages
 * drawn from the law of "ν↑ at a node of level ℓ holding a". Level ℓ is built from level ℓ+1: pick
 * a rule of a uniformly, draw each child's message from the population of the child's symbol, and
 * apply the BP update. Leaves come from the process's own forward sample and likelihood. A
 * downward pass does the same for ν↓ (a parent's (symbol, ν↓) member, a uniform rule and child
 * position, the siblings' ν↑ from their populations), giving the full marginals μ ∝ ν↑·ν↓ and so
 * the level profile P_ℓ that forward–backward measures.
 *
 * Determinism and parallelism: every (pass, level, symbol) block draws from its own stream
 * `createRng(seed, role, level, symbol)`, so blocks of one level may run on any worker in any
 * order with identical results. Streams do not depend on the process or the noise level: nearby
 * noise levels see common random numbers, which makes curves smooth and bisection stable.
 */
import { checkInt, checkNumber, ParamError } from '../core/errors.ts';
import { checkMemory, populationBytes } from '../core/resources.ts';
import { createRng, type Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import type { RuleRng } from '../grammar/sampleRules.ts';
import { symbolsAt, validateParams } from '../grammar/params.ts';
import { makeProcess, resolveProcess, type ProcessName } from '../noise/process.ts';
import { linearSchedule, type Schedule } from '../noise/schedule.ts';
import { deepGrammar, type GrammarSizes } from './deepGrammar.ts';

export interface PopulationOptions {
  readonly process: ProcessName;
  /** ε for eps, uniform and mask; the time fraction t/T (t = 0 clean) for gaussian. */
  readonly noise: number;
  /** Schedule for gaussian noise (default: DDPM linear, T = 1000). */
  readonly schedule?: Schedule;
  /** N: messages per (level, symbol). Default 1000. */
  readonly population?: number;
  /** Seed of the population streams (not of the grammar). Default 0. */
  readonly seed?: number;
  /** Also run the downward pass for the marginal level profile. Default true (not in annealed mode). */
  readonly levels?: boolean;
}

/** Result of one population-dynamics run: one grammar, depth, process and noise level. */
export interface PopulationResult {
  depth: number;
  process: ProcessName;
  noise: number;
  /** ε, or ᾱ for gaussian. */
  control: number;
  population: number;
  annealed: boolean;
  /** P_0 = E[μ_0(c_true)]: mean over classes c and members of the root message's mass on c. */
  classKept: number;
  /**
   * P_ℓ for ℓ = 0..L: mean over nodes of level ℓ of the marginal μ_ℓ(z_true) (full BP, as
   * forward–backward's marginal estimator); null when the downward pass was skipped.
   */
  levelKept: number[] | null;
  /** E[ν↑_ℓ(z_true)] for ℓ = 0..L, nodes weighted by the law of their symbol: the upward-only profile. */
  upwardKept: number[];
  /** Nodes whose every symbol had zero weight (possible only with hard or underflowing evidence); set uniform. */
  degenerate: number;
}

/** Stream roles. */
const STREAM_LEAVES = 11;
const STREAM_UP = 12;
const STREAM_DOWN = 13;
const STREAM_ANNEALED_LEAVES = 21;
const STREAM_ANNEALED_UP = 22;

/** Largest population table we allocate for the level profile (all levels' ν↑ are kept). */
export const MAX_PROFILE_BYTES = 1.5 * 2 ** 30;

function resolveOptions(o: PopulationOptions) {
  const population = checkInt('population', o.population ?? 1000, 2, 1e7);
  const seed = checkInt('seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  checkNumber('noise', o.noise, 0, 1);
  const schedule = o.schedule ?? linearSchedule();
  const process = makeProcess(resolveProcess(o.process), o.noise, schedule);
  return { population, seed, process, schedule };
}

/**
 * Leaf messages of `symbol`: N clean leaves, forward-noised and turned into normalised likelihoods
 * by the process itself (docs/science.md §3), so the leaf law is exactly the simulation's.
 */
function leafMessages(process: ReturnType<typeof makeProcess>, symbol: number, v: number, N: number, rng: Rng, out: Float64Array, offset: number): void {
  const x0 = new Int32Array(N).fill(symbol);
  const lambda = out.subarray(offset, offset + N * v);
  process.likelihood(process.sample(x0, v, rng), v, lambda);
  for (let n = 0; n < N; n++) {
    let z = 0;
    for (let b = 0; b < v; b++) z += lambda[n * v + b];
    if (z > 0) for (let b = 0; b < v; b++) lambda[n * v + b] /= z;
    else lambda.fill(1 / v, n * v, (n + 1) * v);
  }
}

/**
 * One upward BP step for the N members of parent symbol `a` (docs/science.md §2):
 * ν↑(a') ∝ Σ_k' Π_j ν↑_child_j(rule[a'][k'][j]), children drawn from their symbols' populations
 * along a rule of `a` (rule n mod m for member n). `below` holds v·N·v child messages
 * ([(b·N + n)·v + b']); `here` receives P·N·P messages ([(a·N + n)·P + a']). No allocation.
 * Returns the number of members with zero total weight (set uniform).
 */
function upwardBlock(
  rules: Int32Array,
  parents: number,
  m: number,
  s: number,
  v: number,
  N: number,
  a: number,
  below: Float64Array,
  here: Float64Array,
  rng: Rng,
  childOffset: Int32Array,
): number {
  let degenerate = 0;
  for (let n = 0; n < N; n++) {
    // Rules stratified (member n uses rule n mod m): the population's mixture over rules is exact.
    const chosen = (a * m + (n % m)) * s;
    for (let j = 0; j < s; j++) childOffset[j] = (rules[chosen + j] * N + rng.nextInt(N)) * v;
    const o = (a * N + n) * parents;
    let z = 0;
    if (s === 2) {
      const c0 = childOffset[0];
      const c1 = childOffset[1];
      for (let p = 0, r = 0; p < parents; p++) {
        let sum = 0;
        for (let k = 0; k < m; k++, r += 2) sum += below[c0 + rules[r]] * below[c1 + rules[r + 1]];
        here[o + p] = sum;
        z += sum;
      }
    } else {
      for (let p = 0, r = 0; p < parents; p++) {
        let sum = 0;
        for (let k = 0; k < m; k++, r += s) {
          let w = 1;
          for (let j = 0; j < s; j++) w *= below[childOffset[j] + rules[r + j]];
          sum += w;
        }
        here[o + p] = sum;
        z += sum;
      }
    }
    if (z > 0) for (let p = 0; p < parents; p++) here[o + p] /= z;
    else {
      degenerate++;
      for (let p = 0; p < parents; p++) here[o + p] = 1 / parents;
    }
  }
  return degenerate;
}

/** Law of the symbol at a uniformly chosen node of each level (exact, from the grammar). */
export function symbolLaw(g: Grammar): Float64Array[] {
  const { synonyms: m, tuple: s, vocab: v } = g;
  const law: Float64Array[] = [new Float64Array(g.classes).fill(1 / g.classes)];
  for (let level = 0; level < g.depth; level++) {
    const next = new Float64Array(v);
    const rules = g.rules[level];
    const parents = symbolsAt(g, level);
    for (let a = 0; a < parents; a++) {
      const w = law[level][a] / (m * s);
      for (let r = a * m * s; r < (a + 1) * m * s; r++) next[rules[r]] += w;
    }
    law.push(next);
  }
  return law;
}

/**
 * Population dynamics of exact BP on grammar `g` (quenched rules) for one process and noise
 * level: P_0(noise, L) and the level profile, for any depth (cost O(L·v·N·m·v·s), independent of
 * s^L). Deterministic given (g, options).
 */
export function populationDynamics(g: Grammar, options: PopulationOptions): PopulationResult {
  const { population: N, seed, process } = resolveOptions(options);
  const { vocab: v, synonyms: m, tuple: s, depth: L } = g;
  const wantLevels = options.levels ?? true;
  const sizeOf = (level: number) => symbolsAt(g, level) ** 2 * N;
  // The whole run against the memory limit before anything is allocated (docs/limits.md).
  checkMemory('population', N, populationBytes(g, L, N, wantLevels, false), 'population dynamics keeps v²·N message floats per level (two levels; every level for the level profile); lower the population');
  let degenerate = 0;
  if (wantLevels) {
    let total = 0;
    for (let level = 0; level <= L; level++) total += sizeOf(level) * 8;
    if (total > MAX_PROFILE_BYTES) {
      throw new ParamError('population', `invalid population ${N} for a level profile at depth ${L} (needs ${(total / 2 ** 30).toFixed(1)} GiB; lower it or skip the profile)`);
    }
  }
  const law = symbolLaw(g);
  const up: Float64Array[] = new Array(L + 1);
  const upwardKept = new Array<number>(L + 1).fill(0);
  // Leaves (docs/science.md §3): the population of symbol b is N independently noised copies of b.
  let below = new Float64Array(v * N * v);
  for (let b = 0; b < v; b++) leafMessages(process, b, v, N, createRng(seed, STREAM_LEAVES, b), below, b * N * v);
  up[L] = below;
  upwardKept[L] = meanTrueMass(below, v, N, law[L]);
  const childOffset = new Int32Array(s);
  for (let level = L - 1; level >= 0; level--) {
    const parents = symbolsAt(g, level);
    const here = new Float64Array(parents * N * parents);
    for (let a = 0; a < parents; a++) {
      degenerate += upwardBlock(g.rules[level], parents, m, s, v, N, a, below, here, createRng(seed, STREAM_UP, level, a), childOffset);
    }
    upwardKept[level] = meanTrueMass(here, parents, N, law[level]);
    // Without the profile only the level below is needed: let the rest be collected.
    if (wantLevels) up[level] = here;
    below = here;
  }
  const classKept = upwardKept[0];
  const levelKept = wantLevels ? downwardProfile(g, up, N, seed, classKept) : null;
  return {
    depth: L,
    process: options.process,
    noise: options.noise,
    control: process.control,
    population: N,
    annealed: false,
    classKept,
    levelKept,
    upwardKept,
    degenerate,
  };
}

/** Σ_a law(a)·mean_n msg[a][n][a]: the mean mass on the true symbol of a random node. */
function meanTrueMass(msgs: Float64Array, P: number, N: number, law: Float64Array): number {
  let total = 0;
  for (let a = 0; a < P; a++) {
    let acc = 0;
    for (let n = 0; n < N; n++) acc += msgs[(a * N + n) * P + a];
    total += law[a] * (acc / N);
  }
  return total;
}

/**
 * Downward pass (docs/science.md §2): members are (symbol, ν↓) pairs at a uniformly chosen node of each
 * level, V·N of them. Root: class i mod n_c, ν↓ uniform. A child of member i: a uniform rule of
 * its symbol and a uniform position j; the siblings' ν↑ from their symbols' populations;
 * ν↓_child(b) ∝ Σ_{a',k': rule[a'][k'][j] = b} ν↓(a')·Π_{j'≠j} ν↑_{j'}(rule[a'][k'][j']); then
 * μ ∝ ν↑_child·ν↓_child with ν↑_child drawn from the child symbol's population.
 */
function downwardProfile(g: Grammar, up: Float64Array[], N: number, seed: number, classKept: number): number[] {
  const { vocab: v, synonyms: m, tuple: s, depth: L } = g;
  const M = v * N;
  const levelKept = new Array<number>(L + 1).fill(0);
  levelKept[0] = classKept;
  let sym = new Int32Array(M);
  let down = new Float64Array(M * g.classes);
  for (let i = 0; i < M; i++) sym[i] = i % g.classes;
  down.fill(1 / g.classes);
  let nextSym = new Int32Array(M);
  let nextDown = new Float64Array(M * v);
  const sibling = new Int32Array(s);
  const BLOCK = 4096;
  for (let level = 0; level < L; level++) {
    const parents = symbolsAt(g, level);
    const rules = g.rules[level];
    const ups = up[level + 1];
    const ruleCount = parents * m;
    let acc = 0;
    // One stream per block of members, so blocks could run on separate workers.
    let rng: Rng = createRng(seed, STREAM_DOWN, level, 0);
    for (let i = 0; i < M; i++) {
      if (i > 0 && i % BLOCK === 0) rng = createRng(seed, STREAM_DOWN, level, i / BLOCK);
      const a = sym[i];
      const chosen = (a * m + rng.nextInt(m)) * s;
      const j = rng.nextInt(s);
      for (let jj = 0; jj < s; jj++) sibling[jj] = jj === j ? 0 : (rules[chosen + jj] * N + rng.nextInt(N)) * v;
      const b = rules[chosen + j];
      const o = i * v;
      for (let x = 0; x < v; x++) nextDown[o + x] = 0;
      const d0 = i * parents;
      let z = 0;
      for (let r = 0; r < ruleCount; r++) {
        let w = down[d0 + ((r / m) | 0)];
        if (w === 0) continue;
        for (let jj = 0; jj < s; jj++) if (jj !== j) w *= ups[sibling[jj] + rules[r * s + jj]];
        nextDown[o + rules[r * s + j]] += w;
        z += w;
      }
      if (z > 0) for (let x = 0; x < v; x++) nextDown[o + x] /= z;
      else for (let x = 0; x < v; x++) nextDown[o + x] = 1 / v;
      const own = (b * N + rng.nextInt(N)) * v;
      let zm = 0;
      for (let x = 0; x < v; x++) zm += ups[own + x] * nextDown[o + x];
      acc += zm > 0 ? (ups[own + b] * nextDown[o + b]) / zm : 1 / v;
      nextSym[i] = b;
    }
    levelKept[level + 1] = acc / M;
    [sym, nextSym] = [nextSym, sym];
    if (level === 0) {
      down = nextDown;
      nextDown = new Float64Array(M * v);
    } else [down, nextDown] = [nextDown, down];
  }
  return levelKept;
}

/**
 * Annealed population dynamics: fresh random rules at every node, so all symbols are exchangeable
 * and one population per level suffices, stored with the true symbol relabelled to 0. A node draws
 * an unambiguous rule set of its level in which parent 0's first rule is the all-zero tuple (its
 * children's true symbols) and the other N_ℓ·m − 1 tuples are uniform among the rest. Depends on
 * (v, m, s, n_c) only; compare it with the mean-field map, which further replaces each message by
 * its mass on the true symbol.
 */
export function annealedPopulationDynamics(sizes: GrammarSizes & { depth: number }, options: PopulationOptions): PopulationResult {
  const { population: N, seed, process } = resolveOptions(options);
  const g = validateParams({ ...sizes, depth: 1 });
  const { vocab: v, synonyms: m, tuple: s } = g;
  const L = checkInt('depth', sizes.depth, 1, 100000);
  checkMemory('population', N, populationBytes(g, L, N, false, true), 'annealed population dynamics keeps two levels of N·v message floats; lower the population');
  const tuples = v ** s;
  const upwardKept = new Array<number>(L + 1).fill(0);
  let below = new Float64Array(N * v);
  leafMessages(process, 0, v, N, createRng(seed, STREAM_ANNEALED_LEAVES), below, 0);
  upwardKept[L] = meanMassAtZero(below, N, v);
  const stamp = new Int32Array(tuples).fill(-1);
  const ruleSet = new Int32Array(Math.max(g.classes, v) * m);
  const childOffset = new Int32Array(s);
  const digits = new Int32Array(s);
  let degenerate = 0;
  let stampId = 0;
  for (let level = L - 1; level >= 0; level--) {
    const parents = level === 0 ? g.classes : v;
    const ruleCount = parents * m;
    const here = new Float64Array(N * parents);
    const rng = createRng(seed, STREAM_ANNEALED_UP, level);
    for (let n = 0; n < N; n++) {
      // Fresh rules: code 0 (all children on their true symbol 0) is rule 0 of the true parent 0.
      stampId++;
      stamp[0] = stampId;
      ruleSet[0] = 0;
      for (let r = 1; r < ruleCount; r++) {
        let code = rng.nextInt(tuples);
        while (stamp[code] === stampId) code = rng.nextInt(tuples);
        stamp[code] = stampId;
        ruleSet[r] = code;
      }
      for (let j = 0; j < s; j++) childOffset[j] = rng.nextInt(N) * v;
      const o = n * parents;
      for (let p = 0; p < parents; p++) here[o + p] = 0;
      let z = 0;
      for (let r = 0; r < ruleCount; r++) {
        let code = ruleSet[r];
        for (let j = s - 1; j >= 0; j--) {
          digits[j] = code % v;
          code = (code - digits[j]) / v;
        }
        let w = 1;
        for (let j = 0; j < s; j++) w *= below[childOffset[j] + digits[j]];
        here[o + ((r / m) | 0)] += w;
        z += w;
      }
      if (z > 0) for (let p = 0; p < parents; p++) here[o + p] /= z;
      else {
        degenerate++;
        for (let p = 0; p < parents; p++) here[o + p] = 1 / parents;
      }
    }
    upwardKept[level] = meanMassAtZero(here, N, parents);
    below = here;
    if (stampId > 2 ** 30) {
      stamp.fill(-1);
      stampId = 0;
    }
  }
  return {
    depth: L,
    process: options.process,
    noise: options.noise,
    control: process.control,
    population: N,
    annealed: true,
    classKept: upwardKept[0],
    levelKept: null,
    upwardKept,
    degenerate,
  };
}

function meanMassAtZero(msgs: Float64Array, N: number, P: number): number {
  let acc = 0;
  for (let n = 0; n < N; n++) acc += msgs[n * P];
  return acc / N;
}

/** Options of {@link populationThreshold}. */
export interface ThresholdOptions {
  readonly process: ProcessName;
  /** Depth at which the crossing is located (default 30). */
  readonly depth?: number;
  readonly grammarSeeds?: readonly number[];
  readonly rng?: RuleRng;
  readonly population?: number;
  readonly seed?: number;
  readonly schedule?: Schedule;
  /** Bisection stops when the bracket is this narrow (default 1e−3). */
  readonly tolerance?: number;
  /** Use annealed rules instead of the grammars (grammarSeeds ignored). */
  readonly annealed?: boolean;
}

export interface ThresholdResult {
  process: ProcessName;
  depth: number;
  annealed: boolean;
  /** Per grammar seed (one entry when annealed): the noise where P_0(noise, depth) = (1 + 1/n_c)/2. */
  perGrammar: { grammarSeed: number | null; threshold: number }[];
  mean: number;
  /** Spread of the per-grammar thresholds (0 with one). */
  sd: number;
}

/**
 * Estimates the L → ∞ threshold of a process: for each grammar, bisection in the noise level for
 * P_0(noise, L) = (1 + 1/n_c)/2 at a large depth L (default 30), where the transition window
 * (∝ λ^−L) is far narrower than the tolerance. P_0 falls with noise; common random numbers across
 * noise levels keep the bisection monotone in practice.
 */
export function populationThreshold(sizes: GrammarSizes, options: ThresholdOptions): ThresholdResult {
  const depth = checkInt('depth', options.depth ?? 30, 1, 100000);
  const tolerance = checkNumber('tolerance', options.tolerance ?? 1e-3, 1e-9, 0.5);
  const annealed = options.annealed ?? false;
  const seeds = annealed ? [null] : [...(options.grammarSeeds ?? [0])];
  const classes = sizes.classes ?? sizes.vocab;
  const target = (1 + 1 / classes) / 2;
  const perGrammar = seeds.map((grammarSeed) => {
    const g = grammarSeed === null ? null : deepGrammar(sizes, depth, grammarSeed, options.rng ?? 'own');
    const p0 = (noise: number) => {
      const o: PopulationOptions = {
        process: options.process,
        noise,
        levels: false,
        ...(options.population !== undefined ? { population: options.population } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.schedule !== undefined ? { schedule: options.schedule } : {}),
      };
      return g ? populationDynamics(g, o).classKept : annealedPopulationDynamics({ ...sizes, depth }, o).classKept;
    };
    let lo = 0;
    let hi = 1;
    while (hi - lo > tolerance) {
      const mid = 0.5 * (lo + hi);
      if (p0(mid) > target) lo = mid;
      else hi = mid;
    }
    return { grammarSeed, threshold: 0.5 * (lo + hi) };
  });
  const values = perGrammar.map((x) => x.threshold);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { process: options.process, depth, annealed, perGrammar, mean, sd };
}
