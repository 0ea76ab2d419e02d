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
 * the level profile P_ℓ that forward–backward measures. Options, leaves and random streams:
 * population.ts.
 */
import { ParamError } from '../core/errors.ts';
import { checkMemory, populationBytes } from '../core/resources.ts';
import { createRng, type Rng } from '../core/random.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { symbolsAt } from '../grammar/params.ts';
import { leafMessages, populationResult, resolveOptions, STREAM_DOWN, STREAM_LEAVES, STREAM_UP, type PopulationOptions, type PopulationResult } from './population.ts';

/** Largest population table we allocate for the level profile (all levels' ν↑ are kept). */
const MAX_PROFILE_BYTES = 1.5 * 2 ** 30;

/**
 * One upward BP step for the N members of parent symbol `a` (docs/science.md §2):
 * ν↑(a') ∝ Σ_k' Π_j ν↑_child_j(rule[a'][k'][j]), children drawn from their symbols' populations
 * along a rule of `a` (rule n mod m for member n). `below` holds v·N·v child messages
 * ([(b·N + n)·v + b']); `here` receives P·N·P messages ([(a·N + n)·P + a']). No allocation.
 * Returns the number of members with zero total weight (set uniform).
 */
function upwardBlock(rules: Int32Array, parents: number, m: number, s: number, v: number, N: number, a: number, below: Float64Array, here: Float64Array, rng: Rng, childOffset: Int32Array): number {
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
  checkMemory(
    'population',
    N,
    populationBytes(g, L, N, wantLevels, false),
    'population dynamics keeps v²·N message floats per level (two levels; every level for the level profile); lower the population',
  );
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
  return populationResult(options, process.control, { depth: L, population: N, annealed: false, classKept, levelKept, upwardKept, degenerate });
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
      if (s === 2) {
        // The same products in the same order as the general loop below, without its inner loop.
        const other = 1 - j;
        const sib = sibling[other];
        for (let a2 = 0, r2 = 0; a2 < parents; a2++) {
          const d = down[d0 + a2];
          if (d === 0) {
            r2 += 2 * m;
            continue;
          }
          for (let k = 0; k < m; k++, r2 += 2) {
            const w = d * ups[sib + rules[r2 + other]];
            nextDown[o + rules[r2 + j]] += w;
            z += w;
          }
        }
      } else {
        for (let r = 0; r < ruleCount; r++) {
          let w = down[d0 + ((r / m) | 0)];
          if (w === 0) continue;
          for (let jj = 0; jj < s; jj++) if (jj !== j) w *= ups[sibling[jj] + rules[r * s + jj]];
          nextDown[o + rules[r * s + j]] += w;
          z += w;
        }
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
