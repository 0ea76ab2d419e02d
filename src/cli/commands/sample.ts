import type { Command } from 'commander';
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRng } from '../../core/random.ts';
import { ParamError } from '../../core/errors.ts';
import { makeDirs, outputFileProblem } from '../../core/outputDir.ts';
import { requireMemory, sampleBytes } from '../../core/resources.ts';
import { generate, type TreeBatch } from '../../grammar/generate.ts';
import { decodeIndex, pMax } from '../../grammar/count.ts';
import { addGrammarOptions, explicitOption, grammarProvenance, resolveGrammarOptions, singleGrammar, type GrammarOptionValues } from '../grammarOptions.ts';
import { addOverwriteOption, checkOutputFile, refuseExistingFiles, toJsonText } from '../files.ts';
import { parseInteger } from '../parse.ts';
import { runInfo } from '../runInfo.ts';

/** Stream role of `hierdiff sample` (distinct from the experiment's streams). */
const STREAM_SAMPLE = 10;

/** Text written in pieces of about this many characters (never one string of the whole output). */
const CHUNK_CHARS = 1 << 20;

/** Buffered text output to a sink, in ≈ 1 MiB pieces. */
class ChunkedWriter {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly sink: (text: string) => void) {}
  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= CHUNK_CHARS) this.flush();
  }
  flush(): void {
    if (this.size === 0) return;
    this.sink(this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}

/**
 * A file written piece by piece through `<target>.<pid>.tmp` and renamed at `commit`, so the
 * final name never holds a half-written file; `abort` removes the temp file and the folders made.
 */
class StreamedFile {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly created: string | undefined;
  private done = false;
  readonly writer: ChunkedWriter;
  constructor(
    private readonly param: string,
    private readonly target: string,
  ) {
    const problem = outputFileProblem(target);
    if (problem) throw new ParamError(param, `invalid --${param} "${target}" (${problem})`);
    try {
      this.created = makeDirs(dirname(resolve(target)));
    } catch {
      throw new ParamError(param, `invalid --${param} "${target}" (cannot create its folder)`);
    }
    this.tmp = `${target}.${process.pid}.tmp`;
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      if (this.created) rmSync(this.created, { recursive: true, force: true });
      throw new ParamError(param, `invalid --${param} "${target}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
    }
    this.writer = new ChunkedWriter((text) => {
      let buf = Buffer.from(text, 'utf8');
      while (buf.length > 0) buf = buf.subarray(writeSync(this.fd, buf));
    });
  }
  commit(): void {
    try {
      this.writer.flush();
      closeSync(this.fd);
      renameSync(this.tmp, this.target);
      this.done = true;
    } catch (e) {
      this.abort();
      throw new ParamError(this.param, `invalid --${this.param} "${this.target}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
    }
  }
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
    if (this.created) rmSync(this.created, { recursive: true, force: true });
  }
}

/** An integer array as JSON.stringify(·, null, 2) writes it with its opening bracket at indent `pad`. */
function writeIntArray(w: ChunkedWriter, values: ArrayLike<number>, pad: string): void {
  const inner = `${pad}  `;
  w.write('[\n');
  const STEP = 4096;
  for (let i = 0; i < values.length; i += STEP) {
    const end = Math.min(values.length, i + STEP);
    const items: string[] = [];
    for (let j = i; j < end; j++) items.push(`${inner}${values[j]}`);
    w.write(items.join(',\n'));
    w.write(end < values.length ? ',\n' : '\n');
  }
  w.write(`${pad}]`);
}

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
    refuseExistingFiles([['out', o.out], ['csv', o.csv]], o.overwrite);
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
        const head = toJsonText({
          run: runInfo(argv),
          parameters: { ...choice.params, depth: g.depth, ...grammarProvenance(choice) },
          data: [],
        });
        const tail = '[]\n}\n';
        if (!head.endsWith(tail)) throw new Error('sample: unexpected JSON layout');
        const w = json.writer;
        w.write(head.slice(0, -tail.length));
        w.write('[\n');
        for (let n = 0; n < batch.count; n++) {
          const levels = datumLevels(batch, n);
          w.write(`${n > 0 ? ',\n' : ''}    {\n      "class": ${levels[0][0]},\n      "tokens": `);
          writeIntArray(w, levels[L], '      ');
          w.write(',\n      "levels": [\n');
          levels.forEach((lv, l) => {
            w.write('        ');
            writeIntArray(w, lv, '        ');
            w.write(l < L ? ',\n' : '\n');
          });
          w.write('      ]\n    }');
        }
        w.write('\n  ]\n}\n');
      }
      if (o.csv !== undefined) {
        const csv = new StreamedFile('csv', o.csv);
        files.push(csv);
        const w = csv.writer;
        const d = g.tuple ** L;
        w.write('class');
        for (let i = 0; i < d; i += 4096) {
          const names: string[] = [];
          for (let j = i; j < Math.min(d, i + 4096); j++) names.push(`,x${j}`);
          w.write(names.join(''));
        }
        w.write('\n');
        for (let n = 0; n < batch.count; n++) {
          const levels = datumLevels(batch, n);
          w.write(`${levels[0][0]},${levels[L].join(',')}\n`);
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
