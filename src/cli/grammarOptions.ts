import type { Command } from 'commander';
import { ParamError } from '../core/errors.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { sampleRules, resolveRuleRng, type RuleRng } from '../grammar/sampleRules.ts';
import { grammarFromJson } from '../grammar/serialize.ts';
import { readJsonFile } from './files.ts';
import { parseInteger, parseIntegerList } from './parse.ts';

/** Raw grammar options as commander hands them over (strings). */
export interface GrammarOptionValues {
  vocab: string;
  classes?: string;
  synonyms: string;
  tuple: string;
  depth: string;
  seed: string;
  rng: string;
  grammar?: string;
}

/** Adds the RHM options shared by every command. `depthHelp` says whether a list is allowed. */
export function addGrammarOptions(cmd: Command, defaults: { depth: string; depthHelp?: string }): Command {
  return cmd
    .option('--vocab <v>', 'symbols per level, v', '32')
    .option('--classes <nc>', 'root classes, n_c (default: v)')
    .option('--synonyms <m>', 'rules per symbol, m', '8')
    .option('--tuple <s>', 'children per node, s', '2')
    .option('--depth <L>', defaults.depthHelp ?? 'depth L (leaves are level L)', defaults.depth)
    .option('--seed <n>', 'seed of the grammar (and of every random stream)', '0')
    .option('--rng <own|python>', 'rule generator: own, or python (bit-compatible with the published code)', 'own')
    .option('--grammar <file>', 'use a saved grammar JSON instead of drawing one');
}

export interface GrammarChoice {
  /** The grammar for a seed and depth (drawn, or the loaded one). */
  grammarFor(seed: number, depth: number): Grammar;
  seed: number;
  rng: RuleRng;
  depths: number[];
  /** The loaded file, when --grammar was given. */
  file?: string;
  params: { vocab: number; classes: number; synonyms: number; tuple: number };
}

/**
 * Resolves the grammar options. With --grammar the file fixes every parameter, and its depth is
 * the only depth allowed.
 */
export function resolveGrammarOptions(o: GrammarOptionValues, allowDepthList: boolean): GrammarChoice {
  const seed = parseInteger('seed', o.seed, 0, Number.MAX_SAFE_INTEGER);
  const rng = resolveRuleRng(o.rng);
  if (o.grammar !== undefined) {
    const g = grammarFromJson(readJsonFile('grammar', o.grammar));
    return {
      grammarFor: () => g,
      seed,
      rng,
      depths: [g.depth],
      file: o.grammar,
      params: { vocab: g.vocab, classes: g.classes, synonyms: g.synonyms, tuple: g.tuple },
    };
  }
  const vocab = parseInteger('vocab', o.vocab, 2, 65536);
  const synonyms = parseInteger('synonyms', o.synonyms, 1);
  const tuple = parseInteger('tuple', o.tuple, 2, 16);
  const classes = o.classes === undefined ? vocab : parseInteger('classes', o.classes, 1);
  const depths = allowDepthList ? parseIntegerList('depth', o.depth, 1, 64) : [parseInteger('depth', o.depth, 1, 64)];
  // Draw once per depth now, so a bad combination fails before any work or output.
  const cache = new Map<string, Grammar>();
  const grammarFor = (s: number, depth: number): Grammar => {
    const key = `${s}|${depth}`;
    let g = cache.get(key);
    if (!g) {
      g = sampleRules({ vocab, classes, synonyms, tuple, depth }, s, rng);
      cache.set(key, g);
    }
    return g;
  };
  for (const depth of depths) grammarFor(seed, depth);
  return { grammarFor, seed, rng, depths, params: { vocab, classes, synonyms, tuple } };
}

/** Fails unless exactly one grammar is meant (a single depth). */
export function singleGrammar(choice: GrammarChoice): Grammar {
  if (choice.depths.length !== 1) throw new ParamError('depth', 'invalid --depth (expected a single depth for this command)');
  return choice.grammarFor(choice.seed, choice.depths[0]);
}
