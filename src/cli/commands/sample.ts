import type { Command } from 'commander';
import { createRng } from '../../core/random.ts';
import { ParamError } from '../../core/errors.ts';
import { writeCsvRow } from '../../core/csv.ts';
import { writeJsonDocument } from '../../core/jsonStream.ts';
import { ChunkedWriter, StreamedFile } from '../../core/textSink.ts';
import { requireMemory, sampleBytes } from '../../core/resources.ts';
import { generate, type TreeBatch } from '../../grammar/generate.ts';
import { decodeIndex, pMax } from '../../grammar/count.ts';
import { addGrammarOptions, explicitOption, grammarProvenance, resolveGrammarOptions, singleGrammar, type GrammarOptionValues } from '../grammarOptions.ts';
import { addOverwriteOption, checkOutputFile, refuseExistingFiles } from '../files.ts';
import { parseInteger } from '../parse.ts';
import { runInfo } from '../runInfo.ts';

/** Stream role of `hierdiff sample` (distinct from the experiment's streams). */
const STREAM_SAMPLE = 10;

/** Datum n of a batch: levels[ℓ] is its row of level ℓ. */
function datumLevels(batch: TreeBatch, n: number): Int32Array[] {
  return batch.levels.map((lv) => {
    const w = lv.length / batch.count;
    return lv.subarray(n * w, (n + 1) * w);
  });
}

export function registerSample(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('sample')
    .description('draw data from an RHM grammar, with their whole latent trees')
    .option('--samples <n>', 'number of data', '5')
    .option('--index <i>', 'instead of drawing, decode datum i of the published indexing (0 <= i < P_max)')
    .option('--out <file>', 'write JSON (data with latents)')
    .option('--csv <file>', 'write CSV (one row per datum: class, then tokens)');
  addOverwriteOption(cmd);
  addGrammarOptions(cmd, { depth: '3' }).action((o: GrammarOptionValues & { samples: string; index?: string; out?: string; csv?: string; overwrite?: boolean }, self: Command) => {
    if (o.index !== undefined && explicitOption(self, 'samples')) throw new ParamError('samples', 'invalid --samples with --index (--index decodes one datum)');
    const choice = resolveGrammarOptions(o, false);
    const g = singleGrammar(choice);
    refuseExistingFiles(
      [
        ['out', o.out],
        ['csv', o.csv],
      ],
      o.overwrite,
    );
    let batch: TreeBatch;
    if (o.index !== undefined) {
      if (!/^\d+$/.test(o.index.trim())) throw new ParamError('index', `invalid --index "${o.index}" (expected an integer in [0, ${pMax(g) - 1n}])`);
      batch = decodeIndex(g, BigInt(o.index.trim()));
    } else {
      const count = parseInteger('samples', o.samples, 1, 10_000_000);
      // The trees of every datum are held (all levels, Int32); output is streamed (docs/limits.md).
      const why = 'sample holds every drawn tree (all levels) while it writes them; draw fewer data per call with other --seed values, or a smaller --depth';
      if (count === 1) requireMemory('depth', String(g.depth), sampleBytes(g, 1), why);
      else requireMemory('samples', String(count), sampleBytes(g, count), why);
      batch = generate(g, count, createRng(choice.seed, g.depth, STREAM_SAMPLE));
    }
    const L = g.depth;
    if (o.out === undefined && o.csv === undefined) {
      const w = new ChunkedWriter((text) => process.stdout.write(text));
      for (let n = 0; n < batch.count; n++) {
        const levels = datumLevels(batch, n);
        w.write(`class ${levels[0][0]}: ${levels[L].join(' ')}\n`);
      }
      w.flush();
      return;
    }
    if (o.out !== undefined) checkOutputFile('out', o.out);
    if (o.csv !== undefined) checkOutputFile('csv', o.csv);
    const files: StreamedFile[] = [];
    try {
      if (o.out !== undefined) {
        const json = new StreamedFile('out', o.out);
        files.push(json);
        // The same bytes as toJsonText({ run, parameters, data }), written datum by datum.
        const data = function* () {
          for (let n = 0; n < batch.count; n++) {
            const levels = datumLevels(batch, n);
            yield { class: levels[0][0], tokens: levels[L], levels };
          }
        };
        writeJsonDocument(json.writer, { run: runInfo(argv), parameters: { ...choice.params, depth: g.depth, ...grammarProvenance(choice) } }, 'data', data());
      }
      if (o.csv !== undefined) {
        const csv = new StreamedFile('csv', o.csv);
        files.push(csv);
        const d = g.tuple ** L;
        writeCsvRow(csv.writer, ['class', ...Array.from({ length: d }, (_, j) => `x${j}`)]);
        const row = new Int32Array(d + 1);
        for (let n = 0; n < batch.count; n++) {
          const levels = datumLevels(batch, n);
          row[0] = levels[0][0];
          row.set(levels[L], 1);
          writeCsvRow(csv.writer, row);
        }
      }
      for (const f of files) f.commit();
    } catch (e) {
      for (const f of files) f.abort();
      throw e;
    }
    // Like grammar --out: say where the data went (stdout stays for data printed there).
    for (const path of [o.out, o.csv]) if (path !== undefined) process.stderr.write(`wrote ${path}\n`);
  });
}
