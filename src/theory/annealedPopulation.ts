/** Annealed population dynamics: the rules redrawn at every node (options, leaves and streams: population.ts). */
import { checkInt } from '../core/errors.ts';
import { checkMemory, populationBytes } from '../core/resources.ts';
import { createRng } from '../core/random.ts';
import { DENSE_PER_RULE, DENSE_TUPLES } from '../grammar/grammar.ts';
import { validateParams } from '../grammar/params.ts';
import type { GrammarSizes } from './deepGrammar.ts';
import { leafMessages, populationResult, resolveOptions, STREAM_ANNEALED_LEAVES, STREAM_ANNEALED_UP, type PopulationOptions, type PopulationResult } from './population.ts';

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
  const ruleSet = new Int32Array(Math.max(g.classes, v) * m);
  // The tuples a node's rule set has taken: a stamped dense table when v^s is small (as
  // grammar.ts's tuple index), else a set of the codes, O(N_ℓ·m) not O(v^s); the draws are the same.
  const stamp = tuples <= DENSE_TUPLES || tuples <= DENSE_PER_RULE * ruleSet.length ? new Int32Array(tuples).fill(-1) : null;
  const taken = new Set<number>();
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
      ruleSet[0] = 0;
      if (stamp) {
        stampId++;
        stamp[0] = stampId;
        for (let r = 1; r < ruleCount; r++) {
          let code = rng.nextInt(tuples);
          while (stamp[code] === stampId) code = rng.nextInt(tuples);
          stamp[code] = stampId;
          ruleSet[r] = code;
        }
      } else {
        taken.clear();
        taken.add(0);
        for (let r = 1; r < ruleCount; r++) {
          let code = rng.nextInt(tuples);
          while (taken.has(code)) code = rng.nextInt(tuples);
          taken.add(code);
          ruleSet[r] = code;
        }
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
    if (stamp && stampId > 2 ** 30) {
      stamp.fill(-1);
      stampId = 0;
    }
  }
  return populationResult(options, process.control, { depth: L, population: N, annealed: true, classKept: upwardKept[0], levelKept: null, upwardKept, degenerate });
}

function meanMassAtZero(msgs: Float64Array, N: number, P: number): number {
  let acc = 0;
  for (let n = 0; n < N; n++) acc += msgs[n * P];
  return acc / N;
}
