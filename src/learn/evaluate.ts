import { checkInt, ParamError } from '../core/errors.ts';
import { tupleRule, type Grammar } from '../grammar/grammar.ts';
import { leafCount, symbolsAt } from '../grammar/params.ts';
import { parse, type Parse } from '../grammar/validity.ts';

/** Validity of a set of samples, level by level (docs/science.md §7, "Validity per level"). */
export interface ValidityReport {
  /** Number of samples N. */
  count: number;
  /**
   * validByLayer[ℓ′ − 1], ℓ′ = 1 … L: fraction of valid nodes among the nodes whose subtree spans
   * ℓ′ rule levels (layer 1 = parents of the leaves, layer L = the root), averaged over positions
   * and samples.
   */
  validByLayer: number[];
  /** Fraction of samples whose root is valid (the whole sequence parses). */
  fullyValid: number;
}

/** Rule usage at one layer (see {@link ruleFrequencies}). */
export interface RuleUsage {
  /** Layer ℓ′ = 1 … L as in {@link ValidityReport.validByLayer}. */
  layer: number;
  /** Tree level ℓ = L − ℓ′ of the parents whose rules are counted (0 = root). */
  level: number;
  /** counts[a·m + k]: valid nodes of this layer with symbol a expanded by its rule k. */
  counts: number[];
  /** Valid nodes of this layer (the sum of counts). */
  validNodes: number;
  /** Distinct rules seen at least once, out of N_ℓ·m (coverage; low for memorised or collapsed samples). */
  rulesUsed: number;
  /**
   * Σ_a p(a)·KL(p(k | a) ‖ uniform over the m rules), in nats, over symbols a seen at least once:
   * log m − H(K | A). True data choose every rule of a symbol with probability 1/m, so this is 0
   * up to the finite-sample bias ≈ (m − 1)·(symbols seen)/(2·validNodes); symbols' own frequencies
   * depend on the grammar and are deliberately left out.
   */
  klFromUniform: number;
  /** max over seen symbols a and rules k of |p(k | a) − 1/m|: the worst single deviation. */
  maxDeviation: number;
}

/** Number of samples in `samples` (N×d), or a ParamError. */
function sampleCount(samples: Int32Array, d: number): number {
  if (samples.length === 0 || samples.length % d !== 0) {
    throw new ParamError('samples', `invalid samples: got ${samples.length} tokens (expected a positive multiple of d = ${d})`);
  }
  return samples.length / d;
}

function parses(g: Grammar, samples: Int32Array): Parse[] {
  const d = leafCount(g);
  const count = sampleCount(samples, d);
  return Array.from({ length: count }, (_, n) => parse(g, samples.subarray(n * d, (n + 1) * d)));
}

/**
 * Validity per layer and full validity of N×d token samples (docs/science.md §7): a node is valid
 * when its children are valid and form a rule of its level (grammar/validity.ts `parse`; tokens
 * must be in 0 … v−1).
 */
export function validity(g: Grammar, samples: Int32Array): ValidityReport {
  const all = parses(g, samples);
  const L = g.depth;
  const validByLayer: number[] = [];
  for (let layer = 1; layer <= L; layer++) {
    const level = L - layer;
    let valid = 0;
    for (const p of all) for (const a of p.symbols[level]) if (a >= 0) valid++;
    validByLayer.push(valid / (all.length * g.tuple ** level));
  }
  const fullyValid = all.filter((p) => p.symbols[0][0] >= 0).length / all.length;
  return { count: all.length, validByLayer, fullyValid };
}

/**
 * How often each rule (symbol a, rule k) expands the valid nodes of each layer of N×d samples,
 * with two summaries of how far the choice of rule given the symbol is from uniform (the RHM draws
 * it uniformly): a learned model that favours some rules, or copies a few training data, shows up
 * here before validity drops. Returned for layers 1 … L in order.
 */
export function ruleFrequencies(g: Grammar, samples: Int32Array): RuleUsage[] {
  const all = parses(g, samples);
  const { depth: L, synonyms: m, tuple: s, vocab: v } = g;
  const out: RuleUsage[] = [];
  for (let layer = 1; layer <= L; layer++) {
    const level = L - layer;
    const symbols = symbolsAt(g, level);
    const counts = new Array<number>(symbols * m).fill(0);
    const table = g.tupleIndex[level];
    for (const p of all) {
      const here = p.symbols[level];
      const below = p.symbols[level + 1];
      for (let i = 0; i < here.length; i++) {
        if (here[i] < 0) continue;
        let code = 0;
        for (let j = 0; j < s; j++) code = code * v + below[i * s + j];
        counts[tupleRule(table, code)]++;
      }
    }
    let validNodes = 0;
    let rulesUsed = 0;
    let kl = 0;
    let maxDeviation = 0;
    for (const c of counts) {
      validNodes += c;
      if (c > 0) rulesUsed++;
    }
    for (let a = 0; a < symbols; a++) {
      let na = 0;
      for (let k = 0; k < m; k++) na += counts[a * m + k];
      if (na === 0) continue;
      for (let k = 0; k < m; k++) {
        const q = counts[a * m + k] / na;
        if (q > 0) kl += (na / validNodes) * q * Math.log(q * m);
        maxDeviation = Math.max(maxDeviation, Math.abs(q - 1 / m));
      }
    }
    out.push({ layer, level, counts, validNodes, rulesUsed, klFromUniform: kl, maxDeviation });
  }
  return out;
}

/**
 * Fraction of samples identical to some training datum (docs/science.md §7, "Copies"): both are
 * row-major token arrays of rows of length d; rows are compared exactly through a hash set of the
 * training rows.
 */
export function copies(samples: Int32Array, trainTokens: Int32Array, d: number): number {
  checkInt('length', d, 1);
  const count = sampleCount(samples, d);
  if (trainTokens.length % d !== 0) {
    throw new ParamError('train', `invalid training tokens: got ${trainTokens.length} (expected a multiple of d = ${d})`);
  }
  const key = (a: Int32Array, n: number) => a.subarray(n * d, (n + 1) * d).join(',');
  const seen = new Set<string>();
  for (let n = 0; n < trainTokens.length / d; n++) seen.add(key(trainTokens, n));
  let hits = 0;
  for (let n = 0; n < count; n++) if (seen.has(key(samples, n))) hits++;
  return hits / count;
}
