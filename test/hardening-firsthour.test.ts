/**
 * "A first user's hour without surprises": the real binary on the mistakes a new user makes first —
 * commander's own errors as one line, conflicting options refused (exit 2, one line naming both).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import sharp from 'sharp';
import { runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-firsthour-');

describe("commander's errors are one line, like every other error", () => {
  it.each([
    ['an unknown option, with its suggestion on the same line', ['theory', '--depht', '3'], /^hierdiff: unknown option '--depht' \(did you mean --depth\?\)$/],
    ['an unknown command, with its suggestion', ['sampel'], /^hierdiff: unknown command 'sampel' \(did you mean sample\?\)$/],
    ['a missing value', ['sample', '--depth'], /^hierdiff: option '--depth <L>' argument missing$/],
    ['a missing required option', ['merge', 'a.jsonl'], /^hierdiff: required option '--out <file>' not specified$/],
    ['an unknown option of a nested command', ['images', 'schedule', '--respacng', '10'], /^hierdiff: unknown option '--respacng' \(did you mean --respacing\?\)$/],
  ])('%s', (_label, args, pattern) => {
    expectOneLineError(runCli(args), pattern);
  });

  it('--help marks the options a command cannot run without as required', () => {
    const merge = runCli(['merge', '--help']);
    expect(merge.code).toBe(0);
    expect(merge.stdout.replace(/\s+/g, ' ')).toMatch(/--out <file> merged results file .*\(required\)/);
    const posterior = runCli(['posterior', '--help']).stdout;
    const help = (flag: string, next: string) => posterior.slice(posterior.indexOf(flag), posterior.indexOf(next));
    expect(help('--tokens <list>', '--process <name>')).toContain('(required)');
    expect(help('--noise-level <x>', '--schedule <name>')).not.toContain('(required)');
  });
});

describe('conflicting options are refused in one line naming both', () => {
  const tokens = ['--tokens', '1,2,3,4,5,6,7,0'];
  it.each([
    ['sweep --resume --overwrite', ['sweep', '--resume', '--overwrite', '--out', join(dir, 'r.jsonl')], /--overwrite with --resume/],
    ['theory --annealed with mean field', ['theory', '--annealed'], /--annealed without --method population or --threshold/],
    ['theory --population with mean field', ['theory', '--population', '50'], /--population without --method population or --threshold/],
    ['theory --threshold-depth without --threshold', ['theory', '--threshold-depth', '10'], /--threshold-depth without --threshold/],
    ['theory --schedule with eps', ['theory', '--schedule', 'cosine'], /--schedule with --process eps/],
    ['posterior --schedule with eps', ['posterior', '--schedule', 'cosine', ...tokens], /--schedule with --process eps/],
    ['forward-backward --schedule without gaussian', ['forward-backward', '--process', 'eps,mask', '--schedule', 'linear'], /--schedule with --process eps,mask/],
    ['sweep --schedule without gaussian', ['sweep', '--process', 'uniform', '--schedule', 'cosine', '--out', join(dir, 's.jsonl')], /--schedule with --process uniform/],
    ['sample --index with --samples', ['sample', '--index', '5', '--samples', '3'], /--samples with --index/],
    ['evaluate --times without --forward-backward', ['evaluate', '--model', 'm.onnx', '--grammar', 'g.json', '--out', 'e.json', '--times', '50'], /--times without --forward-backward/],
    ['evaluate --fb-samples without --forward-backward', ['evaluate', '--model', 'm.onnx', '--grammar', 'g.json', '--out', 'e.json', '--fb-samples', '5'], /--fb-samples without --forward-backward/],
  ])('%s', (_label, args, pattern) => {
    expectOneLineError(runCli(args, dir), pattern);
  });

  it('the same options without the conflict still run', () => {
    expect(runCli(['posterior', '--process', 'gaussian', '--schedule', 'cosine', ...tokens]).code).toBe(0);
    expect(runCli(['sample', '--index', '5']).code).toBe(0);
    expect(runCli(['theory', '--method', 'population', '--annealed', '--population', '20', '--depth', '2', '--noise-levels', '0.5']).code).toBe(0);
  });

  it('images --per-class larger than a class is refused, naming the class and --images', async () => {
    const images = join(dir, 'images');
    for (const name of ['0/a.png', '0/b.png', '0/c.png', '1/a.png']) {
      mkdirSync(join(images, name, '..'), { recursive: true });
      await sharp(new Uint8Array(2 * 2 * 3).fill(128), { raw: { width: 2, height: 2, channels: 3 } })
        .png()
        .toFile(join(images, name));
    }
    writeFileSync(join(dir, 'm.onnx'), 'not a model');
    const r = runCli(['images', 'stats', '--model', join(dir, 'm.onnx'), '--classifier', join(dir, 'm.onnx'), '--images', images, '--per-class', '2', '--out', join(dir, 'st.json')]);
    expectOneLineError(r, /^hierdiff: invalid --per-class 2 \(class "1" of --images .*images has only 1 image\)$/);
  });
});

describe('errors name what the user gave, not options the command does not have', () => {
  it('images stats offers only the options it uses: no diffusion schedule, sampler or labels', () => {
    const help = runCli(['images', 'stats', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--schedule', '--diffusion-steps', '--respacing', '--variance', '--timestep-input', '--output-name', '--batch-size', '--class-index']) {
      expect(help.stdout, flag).not.toContain(`${flag} `);
    }
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--model <file> the diffusion model \(ONNX\) of the experiment: only its image input is read/);
    const fb = runCli(['images', 'forward-backward', '--help']).stdout;
    for (const flag of ['--schedule', '--respacing', '--batch-size', '--class-index']) expect(fb, flag).toContain(`${flag} `);
  });

  it('evaluate on a model that is not an RHM denoiser says so, naming --model (evaluate has no --time-name)', () => {
    const g = join(dir, 'g8.json');
    expect(runCli(['grammar', '--vocab', '8', '--synonyms', '3', '--depth', '3', '--out', g]).code).toBe(0);
    const model = join(process.cwd(), 'models', 'mnist', 'denoiser.onnx');
    const r = runCli(['evaluate', '--model', model, '--grammar', g, '--out', join(dir, 'e.json')]);
    expectOneLineError(r, /^hierdiff: invalid --model ".*denoiser\.onnx" \(it has no input "t": its inputs are "x", "timesteps"; an RHM denoiser takes x \(one-hot N×v×d\) and t \(t\/T\)\)$/);
  });

  it('images merge on a file or a missing folder names its argument, not an --out it does not have', () => {
    const file = join(dir, 'x.jsonl');
    writeFileSync(file, '{}\n');
    expectOneLineError(runCli(['images', 'merge', file]), /^hierdiff: invalid folder ".*x\.jsonl" \(not a folder; images merge takes the --out folder of a sharded images forward-backward run\)$/);
    expectOneLineError(runCli(['images', 'merge', join(dir, 'none')]), /^hierdiff: invalid folder ".*none" \(not found; /);
  });

  it("report on another command's file says what the file is and what reads it", () => {
    const fb = join(dir, 'fb.json');
    const csv = join(dir, 'fb.csv');
    expect(
      runCli(['forward-backward', '--vocab', '8', '--synonyms', '2', '--depth', '2', '--noise-levels', '0.5', '--samples', '10', '--grammars', '1', '--workers', '1', '--out', fb, '--csv', csv]).code,
    ).toBe(0);
    const runs = join(dir, 'run');
    mkdirSync(runs, { recursive: true });
    writeFileSync(join(runs, 'results.jsonl'), '');
    writeFileSync(join(runs, 'summary.json'), `${JSON.stringify({ format: 'hierdiff.images-summary/1', rows: [] }, null, 2)}\n`);
    writeFileSync(join(dir, 'study.json'), `${JSON.stringify({ format: 'hierdiff.learn-study/1', points: [] }, null, 2)}\n`);
    const reads = 'report reads the results.jsonl of sweep, reproduce or images forward-backward';
    const cases: [string, RegExp][] = [
      [fb, /\(the JSON of forward-backward, not a results file; report reads/],
      [csv, /\(a CSV table, as forward-backward --csv and sample --csv write; report reads/],
      [join(runs, 'summary.json'), /\(the summary\.json of images forward-backward: give .*run\/results\.jsonl\)$/],
      [join(dir, 'study.json'), /\(the study\.json of learn-study, which writes its own report \(.*report\.html\)\)$/],
      [runs, /\(a folder: give .*run\/results\.jsonl\)$/],
      [dir, new RegExp(`\\(a folder; ${reads}\\)$`)],
    ];
    for (const [path, pattern] of cases) expectOneLineError(runCli(['report', path, '--out', join(dir, 'rep')]), pattern);
  });
});

describe("the README's statement of which commands take the grammar options is each command's real options", () => {
  const GRAMMAR = ['--vocab', '--classes', '--synonyms', '--tuple', '--depth', '--seed', '--rng', '--grammar'];
  it('lists exactly the commands with every grammar option, and evaluate with --grammar only', async () => {
    const { buildProgram } = await import('../src/cli/main.ts');
    const program = await buildProgram(['node', 'hierdiff', '--help']);
    const all = new Map<string, string[]>();
    const walk = (cmd: Command, prefix: string): void => {
      for (const sub of cmd.commands) {
        all.set(
          `${prefix}${sub.name()}`,
          sub.options.map((o) => o.long ?? ''),
        );
        walk(sub, `${prefix}${sub.name()} `);
      }
    };
    walk(program, '');
    const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const statement = /The commands that draw a grammar, (.*?), take the grammar options `([^`]*)`.*?; `evaluate` takes only `--grammar FILE`.*?The other commands \((.*?)\) take none/.exec(readme);
    expect(statement, 'the README paragraph on grammar options').not.toBeNull();
    const named = (text: string) => [...text.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]);
    const drawing = named(statement![1]);
    for (const flag of GRAMMAR.slice(0, -1)) expect(statement![2]).toContain(flag);
    const withAll = [...all].filter(([, o]) => GRAMMAR.every((f) => o.includes(f))).map(([name]) => name);
    expect(drawing.sort()).toEqual(withAll.sort());
    expect(GRAMMAR.filter((f) => all.get('evaluate')!.includes(f) && f !== '--seed')).toEqual(['--grammar']);
    // Every other command (the images ones included) has no size option and no --grammar.
    const others = named(statement![3]);
    for (const [name, options] of all) {
      if (drawing.includes(name) || name === 'evaluate') continue;
      expect(others.includes(name) || (others.includes('images') && name.startsWith('images')), `${name} is named in the README`).toBe(true);
      expect(
        GRAMMAR.filter((f) => f !== '--seed' && options.includes(f)),
        name,
      ).toEqual([]);
    }
  });
});
