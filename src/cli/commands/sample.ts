import type { Command } from 'commander';
import { createRng } from '../../core/random.ts';
import { ParamError } from '../../core/errors.ts';
import { generate, type TreeBatch } from '../../grammar/generate.ts';
import { decodeIndex, pMax } from '../../grammar/count.ts';
import { addGrammarOptions, resolveGrammarOptions, singleGrammar, type GrammarOptionValues } from '../grammarOptions.ts';
import { toJsonText, writeFileAtomic } from '../files.ts';
import { parseInteger } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { toCsv } from '../table.ts';

/** Stream role of `hierdiff sample` (distinct from the experiment's streams). */
const STREAM_SAMPLE = 10;

export function registerSample(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('sample')
    .description('draw data from an RHM grammar, with their whole latent trees')
    .option('--samples <n>', 'number of data', '5')
    .option('--index <i>', 'instead of drawing, decode datum i of the published indexing (0 <= i < P_max)')
    .option('--out <file>', 'write JSON (data with latents)')
    .option('--csv <file>', 'write CSV (one row per datum: class, then tokens)');
  addGrammarOptions(cmd, { depth: '3' }).action((o: GrammarOptionValues & { samples: string; index?: string; out?: string; csv?: string }) => {
    const choice = resolveGrammarOptions(o, false);
    const g = singleGrammar(choice);
    let batch: TreeBatch;
    if (o.index !== undefined) {
      if (!/^\d+$/.test(o.index.trim())) throw new ParamError('index', `invalid --index "${o.index}" (expected an integer in [0, ${pMax(g) - 1n}])`);
      batch = decodeIndex(g, BigInt(o.index.trim()));
    } else {
      batch = generate(g, parseInteger('samples', o.samples, 1, 10_000_000), createRng(choice.seed, g.depth, STREAM_SAMPLE));
    }
    const data = Array.from({ length: batch.count }, (_, n) => {
      const levels = batch.levels.map((lv) => {
        const w = lv.length / batch.count;
        return Array.from(lv.subarray(n * w, (n + 1) * w));
      });
      return { class: levels[0][0], tokens: levels[g.depth], levels };
    });
    if (o.out === undefined && o.csv === undefined) {
      for (const d of data) process.stdout.write(`class ${d.class}: ${d.tokens.join(' ')}\n`);
      return;
    }
    if (o.out !== undefined) {
      const json = {
        run: runInfo(argv),
        parameters: { ...choice.params, depth: g.depth, seed: choice.seed, rng: choice.rng, grammarFile: choice.file ?? null },
        data,
      };
      writeFileAtomic(o.out, toJsonText(json));
    }
    if (o.csv !== undefined) {
      const header = ['class', ...Array.from({ length: g.tuple ** g.depth }, (_, i) => `x${i}`)];
      writeFileAtomic(o.csv, toCsv(header, data.map((d) => [d.class, ...d.tokens])));
    }
  });
}
