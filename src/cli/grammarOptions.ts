import type { Command } from 'commander';
import { ParamError } from '../core/errors.ts';
import { OPTIONS } from '../core/options.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { sampleRules, resolveRuleRng, type RuleRng } from '../grammar/sampleRules.ts';
import { readGrammarFileWithOrigin, type GrammarFileOrigin } from '../grammar/serialize.ts';
import { addOption, parseInteger, parseIntegerList, parseOption } from './parse.ts';

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

/**
 * The command whose parsed options object this is, recorded just before its action runs (commander
 * hands the action `cmd.opts()`, this very object), so {@link resolveGrammarOptions} can ask which
 * options were typed and which are defaults without every caller passing the command.
 */
const commandOfOptions = new WeakMap<object, Command>();

/** Adds the RHM options shared by every command. `depthHelp` says whether a list is allowed. */
export function addGrammarOptions(cmd: Command, defaults: { depth: string; depthHelp?: string }): Command {
  cmd.hook('preAction', (_hooked, actionCommand) => {
    commandOfOptions.set(actionCommand.opts(), actionCommand);
  });
  for (const option of [OPTIONS.vocab, OPTIONS.classes, OPTIONS.synonyms, OPTIONS.tuple]) addOption(cmd, option);
  addOption(cmd, OPTIONS.depth, { help: defaults.depthHelp ?? OPTIONS.depth.help, default: defaults.depth });
  for (const option of [OPTIONS.seed, OPTIONS.rng, OPTIONS.grammar]) addOption(cmd, option);
  return cmd;
}

export interface GrammarChoice {
  /** The grammar for a seed and depth (drawn, or the loaded one). */
  grammarFor(seed: number, depth: number): Grammar;
  seed: number;
  rng: RuleRng;
  depths: number[];
  /** The loaded file, when --grammar was given. */
  file?: string;
  /** What the loaded file says about how it was drawn, and its hash (with --grammar). */
  origin?: GrammarFileOrigin;
  params: { vocab: number; classes: number; synonyms: number; tuple: number };
}

/** Whether option `name` was given explicitly (not a default), for options parsed by `cmd`. */
export function explicitOption(cmd: Command | undefined, name: string): boolean {
  const source = cmd?.getOptionValueSource(name);
  return source !== undefined && source !== 'default';
}

/** The grammar size options, as commander names them and as the user types them. */
const SIZE_OPTIONS = ['vocab', 'classes', 'synonyms', 'tuple', 'depth'] as const;

/**
 * Refuses grammar size options given explicitly (`explicit(name)`) that contradict a loaded
 * grammar: `invalid --depth 6 (the grammar in g.json has depth 3)`. Options not given take the
 * file's values; options given with the file's values are accepted. A malformed value (not an
 * integer, below the option's minimum) gets its usual parse message; any other value than the
 * file's, in range or not, is a contradiction.
 */
export function checkAgainstGrammar(g: Grammar, file: string, values: Partial<Record<(typeof SIZE_OPTIONS)[number], string>>, explicit: (name: string) => boolean, allowDepthList = false): void {
  for (const name of SIZE_OPTIONS) {
    const text = values[name];
    if (text === undefined || !explicit(name)) continue;
    // Any well-formed value other than the file's is refused as a contradiction, even one out of range.
    const min = OPTIONS[name].min;
    const given = name === 'depth' && allowDepthList ? parseIntegerList(name, text, min) : [parseInteger(name, text, min)];
    if (given.length !== 1 || given[0] !== g[name]) {
      throw new ParamError(name, `invalid --${name} ${text.trim()} (the grammar in ${file} has ${name} ${g[name]})`);
    }
  }
}

/**
 * Resolves the grammar options. With --grammar the file fixes every parameter: size options left
 * unspecified take its values, and explicit ones (--depth, --vocab, --classes, --synonyms,
 * --tuple) must agree with it. `cmd` is the command that parsed `o`; commands whose options
 * {@link addGrammarOptions} added are found without it.
 */
export function resolveGrammarOptions(o: GrammarOptionValues, allowDepthList: boolean, cmd?: Command): GrammarChoice {
  const seed = parseOption(OPTIONS.seed, o.seed);
  const rng = resolveRuleRng(o.rng);
  if (o.grammar !== undefined) {
    const { grammar: g, origin } = readGrammarFileWithOrigin(o.grammar);
    const command = cmd ?? commandOfOptions.get(o);
    checkAgainstGrammar(g, o.grammar, o, (name) => explicitOption(command, name), allowDepthList);
    return {
      grammarFor: () => g,
      seed,
      rng,
      depths: [g.depth],
      file: o.grammar,
      origin,
      params: { vocab: g.vocab, classes: g.classes, synonyms: g.synonyms, tuple: g.tuple },
    };
  }
  const vocab = parseOption(OPTIONS.vocab, o.vocab);
  const synonyms = parseOption(OPTIONS.synonyms, o.synonyms);
  const tuple = parseOption(OPTIONS.tuple, o.tuple);
  const classes = o.classes === undefined ? vocab : parseOption(OPTIONS.classes, o.classes);
  const depths = allowDepthList ? parseIntegerList('depth', o.depth, OPTIONS.depth.min, OPTIONS.depth.max) : [parseOption(OPTIONS.depth, o.depth)];
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

/**
 * How the grammar was drawn, as results record it. Drawn here: `seed` and `rng` are the options
 * (`grammarFile` null), and the seed also seeds the data. From --grammar: what the file says
 * (`seed`/`rng` null when it does not say), the path and the SHA-256 of its bytes, and `dataSeed`,
 * the --seed that seeded the data and noise (a saved grammar is not redrawn).
 */
export function grammarProvenance(choice: GrammarChoice): { seed: number | null; rng: string | null; grammarFile: string | null; grammarSha256?: string; dataSeed?: number } {
  if (!choice.origin) return { seed: choice.seed, rng: choice.rng, grammarFile: null };
  return { seed: choice.origin.seed, rng: choice.origin.rng, grammarFile: choice.origin.path, grammarSha256: choice.origin.sha256, dataSeed: choice.seed };
}

/** Fails unless exactly one grammar is meant (a single depth). */
export function singleGrammar(choice: GrammarChoice): Grammar {
  if (choice.depths.length !== 1) throw new ParamError('depth', 'invalid --depth (expected a single depth for this command)');
  return choice.grammarFor(choice.seed, choice.depths[0]);
}
