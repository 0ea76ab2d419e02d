import type { Command } from 'commander';
import { grammarToJson } from '../../grammar/serialize.ts';
import { parse } from '../../grammar/validity.ts';
import { pMax } from '../../grammar/count.ts';
import { validFraction } from '../../grammar/params.ts';
import { addGrammarOptions, resolveGrammarOptions, singleGrammar, type GrammarChoice, type GrammarOptionValues } from '../grammarOptions.ts';
import { checkOutputFile } from '../../core/outputDir.ts';
import { addOverwriteOption, refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { parseTokenList } from '../tokens.ts';
import { runInfo } from '../runInfo.ts';

/** The origin a grammar file records: as drawn here, or as the loaded file says (none when it does not). */
function exportOrigin(choice: GrammarChoice): { seed: number; rng: string } | undefined {
  if (!choice.origin) return { seed: choice.seed, rng: choice.rng };
  const { seed, rng } = choice.origin;
  return seed !== null && rng !== null ? { seed, rng } : undefined;
}

export function registerGrammar(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('grammar')
    .description('draw an RHM grammar, print its rules, export it as JSON, or check tokens against it')
    .option('--out <file>', 'write the grammar as JSON')
    .option('--validate <tokens>', 'comma-separated tokens: print the level-by-level parse and validity');
  addOverwriteOption(cmd);
  addGrammarOptions(cmd, { depth: '3' }).action((o: GrammarOptionValues & { out?: string; validate?: string; overwrite?: boolean }) => {
    const choice = resolveGrammarOptions(o, false);
    const g = singleGrammar(choice);
    if (o.out !== undefined) checkOutputFile('out', o.out);
    refuseExistingFiles([['out', o.out]], o.overwrite);
    // Parsed (and checked) before anything is written.
    const parsed = o.validate !== undefined ? parse(g, parseTokenList(o.validate, g.vocab, false)) : null;
    // --validate and --out together do both (the parse is printed, the grammar exported).
    if (o.out !== undefined) {
      const json = { run: runInfo(argv), ...grammarToJson(g, exportOrigin(choice)) };
      writeFileAtomic(o.out, toJsonText(json));
      process.stderr.write(`wrote ${o.out}\n`);
    }
    if (parsed) {
      const p = parsed;
      for (let level = 0; level <= g.depth; level++) {
        const syms = Array.from(p.symbols[level], (x) => (x < 0 ? '✗' : String(x))).join(' ');
        process.stdout.write(`level ${level}: ${p.valid[level] ? 'valid  ' : 'invalid'}  ${syms}\n`);
      }
    }
    if (o.out !== undefined || parsed) return;
    const { vocab: v, classes: nc, synonyms: m, tuple: s, depth: L } = g;
    process.stdout.write(`RHM v=${v} n_c=${nc} m=${m} s=${s} L=${L}${choice.file ? ` (from ${choice.file})` : ` seed=${choice.seed} rng=${choice.rng}`}\n`);
    process.stdout.write(`tokens per datum d = ${s ** L}; f = m/v^(s-1) = ${validFraction(g).toPrecision(4)}; P_max = ${pMax(g)}\n`);
    const json = grammarToJson(g);
    json.rules.forEach((level, l) => {
      process.stdout.write(`level ${l} -> ${l + 1}\n`);
      level.forEach((rules, a) => process.stdout.write(`  ${a} -> ${rules.map((t) => `(${t.join(',')})`).join(' ')}\n`));
    });
  });
}
