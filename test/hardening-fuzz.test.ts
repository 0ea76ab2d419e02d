/**
 * Issue 14: a seeded fuzz test of the CLI's promises over its flag space and over grammar,
 * sweep-config and results files. Every run must either
 *   - exit 0 with valid output: every file it was asked to write exists and parses, and no result
 *     holds NaN or null (outside the fields documented as null: grammarFile, grammar, shard,
 *     threshold, chi/chiSE when K = 1, and every spread not estimable from fewer than two values:
 *     classKeptGrammarSD and chiSE with one grammar seed, the SEs with one datum), or
 *   - exit 2 with exactly one line on stderr, and leave the output folder exactly as it was
 *     (no new file, every existing file byte-identical);
 * and never print a stack trace or an "unexpected error".
 *
 * The bulk runs the CLI in process (src/cli/main.ts `main`, exactly what bin/hierdiff.js runs,
 * with stdout/stderr captured and process.exitCode read back), which costs milliseconds a run
 * instead of a second of start-up; a few cases run on the real binary under /usr/bin/time to
 * bound the peak memory: with HIERDIFF_MEMORY_LIMIT=256M every run, accepted or refused, stays
 * under PEAK_RSS_BOUND (512 MiB resident: Node and tsx take ≈ 150–250 MiB, the limit the rest).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { BIN } from './helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'hierdiff-fuzz-'));
const MEMORY_LIMIT = '256M';
const PEAK_RSS_BOUND = 512 * 1024 * 1024;
/** Fixed in CI; HIERDIFF_FUZZ_SEED and HIERDIFF_FUZZ_SCALE (a run multiplier) explore further by hand. */
const SEED = Number(process.env.HIERDIFF_FUZZ_SEED ?? 20261129);
const SCALE = Number(process.env.HIERDIFF_FUZZ_SCALE ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
let savedLimit: string | undefined;
beforeAll(() => {
  savedLimit = process.env.HIERDIFF_MEMORY_LIMIT;
  process.env.HIERDIFF_MEMORY_LIMIT = MEMORY_LIMIT;
});
afterAll(() => {
  if (savedLimit === undefined) delete process.env.HIERDIFF_MEMORY_LIMIT;
  else process.env.HIERDIFF_MEMORY_LIMIT = savedLimit;
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function text(chunk: unknown): string {
  return typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
}

/** The CLI in this process: what bin/hierdiff.js runs (main(process.argv)), output captured. */
async function runInProcess(args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  const capture =
    (sink: string[]) =>
    (chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
      sink.push(text(chunk));
      const done = typeof enc === 'function' ? enc : cb;
      if (typeof done === 'function') (done as () => void)();
      return true;
    };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await main(['node', 'hierdiff', ...args]);
  } catch (e) {
    err.push(`uncaught: ${(e as Error)?.stack ?? String(e)}`);
    process.exitCode = 99;
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = undefined;
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** Every file under `dir` with its bytes (the output folder's state). */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(p, readFileSync(p, 'latin1'));
    }
  };
  walk(dir);
  return files;
}

/**
 * Keys whose null is documented (an absent value), not a lost result: no grammar file, seeds or
 * shard (grammarSeed: annealed rules); no threshold or population curves (report --population 0) asked for; χ with K = 1; theory's transition values when
 * `transitionExists` is false; a spread from fewer than two values (one grammar seed, one datum:
 * src/experiment/summary.ts, not estimable).
 */
const NULL_OK = new Set([
  'grammarFile',
  'grammar',
  'grammarSeeds',
  'grammarSeed',
  'populationLevels',
  'shard',
  'threshold',
  'chi',
  'chiSE',
  'pStar',
  'criticalNoise',
  'criticalEps',
  'lambda',
  'nu',
  'classKeptGrammarSD',
  'classKeptSE',
  'classKeptSampledSE',
  'levelKeptSE',
  'levelKeptSampledSE',
  'tokenKeptSE',
  'cosineSE',
  'pixelChangeSE',
  'classKeptLabelSE',
]);

function checkNoNullOrNaN(value: unknown, where: string): void {
  const walk = (x: unknown, key: string, parent: unknown, path: string): void => {
    if (x === null) {
      // theory --annealed: no level profile (levelKept null), the upward one instead.
      const annealedProfile = key === 'levelKept' && Array.isArray((parent as { upwardKept?: unknown })?.upwardKept);
      if (!NULL_OK.has(key) && !annealedProfile) throw new Error(`null at ${path} in ${where}`);
      return;
    }
    if (typeof x === 'number' && !Number.isFinite(x)) throw new Error(`${x} at ${path} in ${where}`);
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, key, parent, `${path}[${i}]`));
    else if (typeof x === 'object') for (const [k, y] of Object.entries(x as object)) walk(y, k, x, `${path}.${k}`);
  };
  walk(value, '', null, '$');
}

/** A file the command wrote: JSON, JSON lines or CSV/text, checked for NaN/null results. */
function checkOutputFile(path: string): void {
  const body = readFileSync(path, 'utf8');
  expect(body.length, path).toBeGreaterThan(0);
  if (path.endsWith('.json')) checkNoNullOrNaN(JSON.parse(body), path);
  else if (path.endsWith('.jsonl')) {
    for (const line of body.split('\n').filter((l) => l.length > 0)) checkNoNullOrNaN(JSON.parse(line), path);
  } else if (path.endsWith('.html')) expect(body, path).not.toMatch(/\bNaN\b|undefined/);
  else expect(body, path).not.toMatch(/\bNaN\b|\bnull\b|undefined|Infinity/);
}

/** A case: the command line, the folder it writes in and the files it asks for. */
interface Case {
  args: string[];
  outputs: string[];
}

let caseNo = 0;
/** A fresh empty folder for one case, with the given input files. */
function caseDir(inputs: Record<string, string> = {}): string {
  const dir = join(root, `c${caseNo++}`);
  mkdirSync(dir);
  for (const [name, body] of Object.entries(inputs)) writeFileSync(join(dir, name), body);
  return dir;
}

/** The promises of the CLI for one run (see the header). */
function checkRun(c: Case, dir: string, before: Map<string, string>, r: Run): void {
  const context = `${c.args.join(' ')}\n--- stderr:\n${r.stderr}`;
  expect(r.stderr + r.stdout, context).not.toMatch(/unexpected error|uncaught|\n\s+at .+:\d+:\d+/);
  expect([0, 2], context).toContain(r.code);
  if (r.code === 2) {
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, context).toHaveLength(1);
    expect(lines[0], context).toMatch(/^(hierdiff: |error: )/);
    const after = snapshot(dir);
    expect([...after.keys()].sort(), context).toEqual([...before.keys()].sort());
    for (const [p, body] of before) expect(after.get(p) === body, `${p} changed\n${context}`).toBe(true);
    return;
  }
  for (const p of c.outputs) {
    expect(existsSync(p), `${p} missing\n${context}`).toBe(true);
    checkOutputFile(p);
  }
  if (c.args.includes('forward-backward') && !c.args.includes('--trajectories')) expect(r.stdout).not.toMatch(/\bNaN\b/);
}

/** Exit codes seen per test, so that a test whose every run is refused (or accepted) fails. */
const seen = new Map<string, Set<number>>();

async function runCase(c: Case, dir: string, tally: string): Promise<void> {
  const before = snapshot(dir);
  const r = await runInProcess(c.args);
  checkRun(c, dir, before, r);
  if (!seen.has(tally)) seen.set(tally, new Set());
  seen.get(tally)!.add(r.code);
}

/** Both outcomes occurred (the fuzz reaches past validation and into it). */
function expectBothOutcomes(tally: string): void {
  expect([...(seen.get(tally) ?? [])].sort(), tally).toEqual([0, 2]);
}

// ---------------------------------------------------------------------------------------------
// Flag values: small valid ones, and invalid ones of every kind.

const INVALID = [
  '-1',
  'NaN',
  '1e400',
  '0x10',
  '',
  'abc',
  '1.5',
  'Infinity',
  '-Infinity',
  '99999999999999999999',
  '4294967297',
  '1e12',
  ' 2',
  '2,',
  ',',
  '[]',
  'null',
  'true',
  '0b11',
  '1_000',
  '-0',
  '2e0',
  '1e-400',
  '٣',
];
const invalid = fc.constantFrom(...INVALID);
const valid = (...xs: string[]) => fc.constantFrom(...xs);
const either = (v: fc.Arbitrary<string>) => fc.oneof({ weight: 3, arbitrary: v }, { weight: 2, arbitrary: invalid });

/** Valid values per flag (shared by the commands that have the flag). */
const VALID: Record<string, fc.Arbitrary<string>> = {
  '--vocab': valid('2', '3', '4', '8'),
  '--classes': valid('1', '2', '4', '5', '16'),
  '--synonyms': valid('1', '2'),
  '--tuple': valid('2', '3'),
  '--depth': valid('1', '2', '3', '2,2', '1,3', '3,1'),
  '--seed': valid('0', '1', '12345'),
  '--rng': valid('own', 'python', 'foo'),
  '--validate': valid('0,1,2,3', '0,?', '9,9,9,9', '0,1,2,3,0,1,2,3'),
  '--samples': valid('1', '2', '5'),
  '--index': valid('0', '1', '3', '100'),
  '--tokens': valid('0,1,2,3', '0,?,1,?', '0,0,0,0', '0,0', '3,3,3,3,3,3,3,3', '0,1,2,3,0,1,2,3', '?,?,?,?', '0,-1,2,3', '0, 1,2,3', '0,1,2,4', '0,1,2,3,'),
  '--process': valid('eps', 'uniform', 'mask', 'gaussian', 'eps,mask', 'uniform,gaussian', 'foo', 'eps,eps', 'gaussian,mask,uniform,eps'),
  '--noise-level': valid('0', '0.001', '0.3', '1', '1e-9', '0.9999'),
  '--noise-levels': valid('0', '0.5', '0.2,0.8', '0:1:3', '1', '0.9:0.1:2', '0.5,0.5', '0:1:1', '0.5:0.5:3', '1e-9,0.001', '0:0.01:2'),
  '--schedule': valid('linear', 'cosine', 'foo'),
  '--posterior-samples': valid('0', '1', '3'),
  '--trajectories': valid('1', '2'),
  '--grammars': valid('1', '2'),
  '--backend': valid('reference', 'fast', 'fast32', 'wasm'),
  '--workers': valid('1'),
  '--method': valid('mean-field', 'population'),
  '--population': valid('2', '20'),
  '--threshold-depth': valid('1', '2'),
  '--depth-samples': valid('2=3', '1=1,2=2', '5=1'),
  '--shard': valid('0/2', '1/2', '0/1', '2/2'),
};
const BOOLEAN = ['--correlations', '--no-marginals', '--theory', '--annealed', '--threshold', '--resume', '--overwrite'];

/** Flags each command may get (besides the grammar options and the output files). */
const COMMAND_FLAGS: Record<string, string[]> = {
  grammar: ['--vocab', '--classes', '--synonyms', '--tuple', '--depth', '--seed', '--rng', '--validate'],
  sample: ['--vocab', '--classes', '--synonyms', '--tuple', '--depth', '--seed', '--rng', '--samples', '--index'],
  posterior: ['--vocab', '--synonyms', '--tuple', '--depth', '--seed', '--tokens', '--process', '--noise-level', '--schedule', '--posterior-samples'],
  'forward-backward': [
    '--vocab',
    '--classes',
    '--synonyms',
    '--depth',
    '--seed',
    '--process',
    '--noise-levels',
    '--schedule',
    '--samples',
    '--trajectories',
    '--grammars',
    '--backend',
    '--workers',
    '--correlations',
    '--no-marginals',
    '--theory',
  ],
  theory: ['--vocab', '--synonyms', '--depth', '--seed', '--process', '--noise-levels', '--method', '--population', '--grammars', '--schedule', '--annealed', '--threshold', '--threshold-depth'],
  sweep: [
    '--vocab',
    '--synonyms',
    '--depth',
    '--seed',
    '--process',
    '--noise-levels',
    '--samples',
    '--trajectories',
    '--grammars',
    '--depth-samples',
    '--shard',
    '--overwrite',
    '--resume',
    '--workers',
  ],
};
/** Small sizes every run starts from (the defaults are large), before the fuzzed flags. */
const BASE: Record<string, string[]> = {
  grammar: ['--vocab', '4', '--synonyms', '2', '--depth', '2'],
  sample: ['--vocab', '4', '--synonyms', '2', '--depth', '2', '--samples', '2'],
  posterior: ['--vocab', '4', '--synonyms', '2', '--depth', '2', '--tokens', '0,1,2,3'],
  'forward-backward': ['--vocab', '4', '--synonyms', '2', '--depth', '2', '--samples', '2', '--noise-levels', '0.5', '--workers', '1', '--trajectories', '2'],
  // No population options here: theory refuses them without --method population or --threshold (the fuzz adds them).
  theory: ['--vocab', '4', '--synonyms', '2', '--depth', '2', '--noise-levels', '0.5'],
  sweep: ['--vocab', '4', '--synonyms', '2', '--depth', '2', '--samples', '2', '--noise-levels', '0.5', '--workers', '1', '--trajectories', '1'],
};
/** Output options per command and the file name each writes (absolute paths in the case folder). */
const OUTPUTS: Record<string, [flag: string, name: string][]> = {
  grammar: [['--out', 'g-out.json']],
  sample: [
    ['--out', 's.json'],
    ['--csv', 's.csv'],
  ],
  posterior: [['--out', 'p.json']],
  'forward-backward': [
    ['--out', 'fb.json'],
    ['--csv', 'fb.csv'],
  ],
  theory: [['--out', 'th.json']],
  sweep: [],
};

/**
 * Valid settings that go together and are worth reaching more often than independent flags would:
 * near-hard evidence (tiny noise) on every backend, where float round-off and underflow live.
 */
const BUNDLES: Record<string, string[][]> = {
  'forward-backward': [
    ['--vocab', '8', '--depth', '3', '--process', 'gaussian,uniform,eps', '--noise-levels', '0.001,1e-300', '--backend', 'fast32', '--samples', '50'],
    ['--vocab', '8', '--depth', '3', '--process', 'gaussian', '--noise-levels', '0.002,0.03', '--backend', 'reference'],
    ['--vocab', '8', '--depth', '3', '--process', 'uniform,mask', '--noise-levels', '1e-9,0.999', '--backend', 'fast'],
  ],
  posterior: [
    ['--vocab', '8', '--depth', '3', '--tokens', '0,0,0,0,0,0,0,0', '--process', 'gaussian', '--noise-level', '0.001'],
    ['--vocab', '8', '--depth', '3', '--tokens', '0,0,0,0,0,0,0,0', '--process', 'uniform', '--noise-level', '1e-300', '--posterior-samples', '2'],
  ],
};

/** One fuzzed flag: a flag of the command with a valid or invalid value (booleans take none), or a bundle. */
function flagArb(command: string): fc.Arbitrary<string[]> {
  const flag: fc.Arbitrary<string[]> = fc.constantFrom(...COMMAND_FLAGS[command]).chain((f): fc.Arbitrary<string[]> => (BOOLEAN.includes(f) ? fc.constant([f]) : either(VALID[f]).map((v) => [f, v])));
  const bundles = BUNDLES[command];
  return bundles ? fc.oneof({ weight: 5, arbitrary: flag }, { weight: 1, arbitrary: fc.constantFrom<string[]>(...bundles) }) : flag;
}

/** A command line of `command`: base sizes, 0–4 fuzzed flags, and some of its outputs (sometimes at a bad path). */
function commandArb(command: string): fc.Arbitrary<{ flags: string[][]; outs: [string, string, 'ok' | 'dir' | 'missing-dir' | 'empty'][] }> {
  const outs = OUTPUTS[command].map(([flag, name]) =>
    fc.option(fc.tuple(fc.constant(flag), fc.constant(name), fc.constantFrom('ok', 'ok', 'ok', 'dir', 'missing-dir', 'empty') as fc.Arbitrary<'ok' | 'dir' | 'missing-dir' | 'empty'>), {
      nil: undefined,
    }),
  );
  return fc.record({
    flags: fc.array(flagArb(command), { maxLength: 4 }),
    outs: fc.tuple(...outs).map((xs) => xs.filter((x): x is [string, string, 'ok' | 'dir' | 'missing-dir' | 'empty'] => x !== undefined)),
  });
}

/** Builds the case in a fresh folder: an output that is a directory, under a missing folder, or an empty name. */
function buildCase(command: string, spec: { flags: string[][]; outs: [string, string, string][] }, extra: string[] = [], inputs: Record<string, string> = {}): { c: Case; dir: string } {
  const dir = caseDir(inputs);
  const args = [command, ...BASE[command], ...spec.flags.flat(), ...extra];
  const outputs: string[] = [];
  for (const [flag, name, kind] of spec.outs) {
    const p = join(dir, name);
    if (kind === 'dir') mkdirSync(p);
    if (kind === 'empty') args.push(flag, '');
    else args.push(flag, kind === 'missing-dir' ? join(dir, 'no-such-dir', name) : p);
    if (kind === 'ok') outputs.push(p);
  }
  if (command === 'sweep') {
    const p = join(dir, 'r.jsonl');
    args.push('--out', p);
    outputs.push(p);
  }
  return { c: { args, outputs }, dir };
}

describe('fuzz: the CLI flag space (in process)', () => {
  for (const [command, n] of [
    ['grammar', 50],
    ['sample', 50],
    ['posterior', 50],
    ['forward-backward', 50],
    ['theory', 40],
    ['sweep', 20],
  ] as const) {
    it(`${command}: exit 0 with valid output, or exit 2 with one line and nothing written (${n} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(commandArb(command), async (spec) => {
          const { c, dir } = buildCase(command, spec);
          await runCase(c, dir, command);
        }),
        { seed: SEED, numRuns: runs(n), endOnFailure: true },
      );
      expectBothOutcomes(command);
    });
  }
});

describe('valid settings at the edges are accepted (exit 0), not refused', () => {
  // The fuzz accepts exit 2 for any input; these are known to be valid, so they must run.
  it.each(Object.entries(BUNDLES).flatMap(([command, bundles]) => bundles.map((b) => ({ command, b, line: b.join(' ') }))))('$command $line', async ({ command, b }) => {
    const { c, dir } = buildCase(command, { flags: [b], outs: OUTPUTS[command].map(([flag, name]) => [flag, name, 'ok']) });
    const before = snapshot(dir);
    const r = await runInProcess(c.args);
    expect(r.code, r.stderr).toBe(0);
    checkRun(c, dir, before, r);
  });
});

// ---------------------------------------------------------------------------------------------
// Files: random mutations of a valid grammar file, sweep config and sweep results file.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const BAD_VALUES: Json[] = [null, -1, 1.5, 1e308, 2 ** 53 + 2, '', 'x', true, [], {}, 0, 65537, -0];

/** A mutation of a JSON text: a value replaced or removed, truncation, CRLF, BOM, garbage, duplication. */
const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('value' as const), pick: fc.nat(), value: fc.constantFrom(...BAD_VALUES) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('text' as const), how: fc.constantFrom('crlf', 'bom', 'garbage', 'twice', 'empty', 'huge-number', 'nul') }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

/** Every (container, key) of a JSON value, depth first. */
function slots(x: Json): [Json[] | { [k: string]: Json }, string | number][] {
  const out: [Json[] | { [k: string]: Json }, string | number][] = [];
  const walk = (v: Json): void => {
    if (Array.isArray(v)) v.forEach((y, i) => (out.push([v, i]), walk(y)));
    else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) out.push([v, k]), walk(v[k]);
  };
  walk(x);
  return out;
}

function mutate(body: string, m: Mutation, jsonLines = false): string {
  if (m.kind === 'truncate') return body.slice(0, Math.floor(m.at * body.length));
  if (m.kind === 'text') {
    switch (m.how) {
      case 'crlf':
        return body.replace(/\n/g, '\r\n');
      case 'bom':
        return `\uFEFF${body}`;
      case 'garbage':
        return `${body}}{,]`;
      case 'twice':
        return body + body;
      case 'empty':
        return '';
      case 'huge-number':
        return body.replace(/\d+/, '1' + '0'.repeat(400));
      case 'nul':
        return body.replace(/,/, ',\u0000');
    }
  }
  // One JSON document (a JSON-lines file: one of its lines) with one value replaced or removed.
  const docs = jsonLines ? body.split('\n').filter((l) => l.length > 0) : [body];
  const li = m.pick % docs.length;
  const doc = JSON.parse(docs[li]) as Json;
  const all = slots(doc);
  if (all.length === 0) return body;
  const [container, key] = all[m.pick % all.length];
  if (m.kind === 'value') (container as Record<string | number, Json>)[key] = m.value;
  else if (Array.isArray(container)) container.splice(key as number, 1);
  else delete container[key];
  docs[li] = jsonLines ? JSON.stringify(doc) : JSON.stringify(doc, null, 2);
  return jsonLines ? `${docs.join('\n')}\n` : docs[li];
}

describe('fuzz: grammar, sweep config and results files (in process)', () => {
  let grammarText = '';
  let configText = '';
  let resultsText = '';
  const shardTexts: string[] = [];
  beforeAll(async () => {
    const dir = caseDir();
    const g = join(dir, 'g.json');
    expect((await runInProcess(['grammar', '--vocab', '4', '--synonyms', '2', '--depth', '2', '--out', g])).code).toBe(0);
    grammarText = readFileSync(g, 'utf8');
    configText = JSON.stringify(
      { vocab: 4, synonyms: 2, tuple: 2, depths: [2], processes: ['eps', 'mask'], noiseLevels: { eps: [0.5], mask: [0.3] }, samples: 2, trajectories: 1, grammars: 1 },
      null,
      2,
    );
    const r = join(dir, 'r.jsonl');
    const sweep = await runInProcess(['sweep', ...BASE.sweep, '--process', 'eps,mask', '--out', r]);
    expect(sweep.code, sweep.stderr).toBe(0);
    resultsText = readFileSync(r, 'utf8');
    for (const i of [0, 1]) {
      const shard = join(dir, `shard${i}.jsonl`);
      const res = await runInProcess(['sweep', ...BASE.sweep, '--process', 'eps,mask', '--shard', `${i}/2`, '--out', shard]);
      expect(res.code, res.stderr).toBe(0);
      shardTexts.push(readFileSync(shard, 'utf8'));
    }
  });

  const grammarUses: ((g: string, dir: string) => Case)[] = [
    (g, dir) => ({ args: ['grammar', '--grammar', g, '--out', join(dir, 'g2.json')], outputs: [join(dir, 'g2.json')] }),
    (g, dir) => ({ args: ['sample', '--grammar', g, '--samples', '2', '--out', join(dir, 's.json')], outputs: [join(dir, 's.json')] }),
    (g, dir) => ({ args: ['posterior', '--grammar', g, '--tokens', '0,1,2,3', '--process', 'mask', '--noise-level', '0.5', '--out', join(dir, 'p.json')], outputs: [join(dir, 'p.json')] }),
    (g, dir) => ({
      args: ['forward-backward', '--grammar', g, '--samples', '2', '--noise-levels', '0.5', '--workers', '1', '--trajectories', '2', '--out', join(dir, 'fb.json')],
      outputs: [join(dir, 'fb.json')],
    }),
    (g, dir) => ({ args: ['theory', '--grammar', g, '--method', 'population', '--population', '20', '--noise-levels', '0.5', '--out', join(dir, 'th.json')], outputs: [join(dir, 'th.json')] }),
  ];

  it('a mutated grammar file: accepted with valid output, or refused in one line with nothing written (70 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationArb, fc.nat({ max: grammarUses.length - 1 }), async (m, use) => {
        const dir = caseDir({ 'g.json': mutate(grammarText, m) });
        await runCase(grammarUses[use](join(dir, 'g.json'), dir), dir, 'grammar file');
      }),
      { seed: SEED, numRuns: runs(70), endOnFailure: true },
    );
    expectBothOutcomes('grammar file');
  });

  it('a mutated sweep config: runs or is refused in one line, nothing written (20 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationArb, async (m) => {
        const dir = caseDir({ 'c.json': mutate(configText, m) });
        const out = join(dir, 'r.jsonl');
        await runCase({ args: ['sweep', '--config', join(dir, 'c.json'), '--workers', '1', '--out', out], outputs: [out] }, dir, 'config');
      }),
      { seed: SEED, numRuns: runs(20), endOnFailure: true },
    );
    expectBothOutcomes('config');
  });

  it('a mutated results file: --resume repairs or refuses it in one line, leaving it as it was (25 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationArb, async (m) => {
        const dir = caseDir({ 'r.jsonl': mutate(resultsText, m, true) });
        const out = join(dir, 'r.jsonl');
        await runCase({ args: ['sweep', ...BASE.sweep, '--process', 'eps,mask', '--resume', '--out', out], outputs: [out] }, dir, 'results');
      }),
      { seed: SEED, numRuns: runs(25), endOnFailure: true },
    );
    expectBothOutcomes('results');
  });

  it('merge of a mutated shard with a valid one: merged or refused in one line, nothing written (20 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationArb, fc.boolean(), async (m, first) => {
        const dir = caseDir({ 'a.jsonl': mutate(shardTexts[0], m, true), 'b.jsonl': shardTexts[1] });
        const out = join(dir, 'm.jsonl');
        const files = first ? [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')] : [join(dir, 'b.jsonl'), join(dir, 'a.jsonl')];
        await runCase({ args: ['merge', ...files, '--out', out], outputs: [out] }, dir, 'merge');
      }),
      { seed: SEED, numRuns: runs(20), endOnFailure: true },
    );
    expectBothOutcomes('merge');
  });

  it('report from a mutated results file: drawn or refused in one line, nothing written (12 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(mutationArb, async (m) => {
        const dir = caseDir({ 'r.jsonl': mutate(resultsText, m, true) });
        const rep = join(dir, 'rep');
        await runCase({ args: ['report', join(dir, 'r.jsonl'), '--out', rep, '--population', '0'], outputs: [join(rep, 'report.html'), join(rep, 'theory.json')] }, dir, 'report');
      }),
      { seed: SEED, numRuns: runs(12), endOnFailure: true },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Peak memory: a few fuzzed cases on the real binary, measured by /usr/bin/time.

const TIME = '/usr/bin/time';
const HUGE = ['1e400', '99999999999999999999', '4294967297', '10000000', '1000000', '64', '30', '20'];
const HUGE_FLAGS: Record<string, string[]> = {
  grammar: ['--depth', '--vocab', '--tuple'],
  sample: ['--samples', '--depth', '--vocab', '--tuple'],
  'forward-backward': ['--samples', '--depth', '--vocab', '--trajectories'],
  theory: ['--population', '--depth', '--vocab', '--grammars'],
};
const HUGE_CASES = fc
  .constantFrom(...Object.keys(HUGE_FLAGS))
  .chain((command) => fc.record({ command: fc.constant(command), flag: fc.constantFrom(...HUGE_FLAGS[command]), value: fc.constantFrom(...HUGE) }));

describe.runIf(existsSync(TIME))('fuzz: peak memory of the real binary under HIERDIFF_MEMORY_LIMIT', () => {
  it(`huge sizes are refused or run within ${PEAK_RSS_BOUND / 2 ** 20} MiB resident (8 runs)`, () => {
    const cases = fc.sample(HUGE_CASES, { seed: SEED, numRuns: runs(8) });
    for (const { command, flag, value } of cases) {
      const dir = caseDir();
      const args = [command, ...BASE[command], ...(command === 'theory' ? ['--method', 'population'] : []), flag, value];
      const before = snapshot(dir);
      // stdout (up to a million data) to a file beside the case folder, not through a pipe buffer.
      const stdoutPath = `${dir}.stdout`;
      const fd = openSync(stdoutPath, 'w');
      const r = spawnSync(TIME, ['-f', 'maxrss-kb %M', process.execPath, BIN, ...args], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', fd, 'pipe'],
        env: { ...process.env, HIERDIFF_MEMORY_LIMIT: MEMORY_LIMIT },
      });
      closeSync(fd);
      const stdout = readFileSync(stdoutPath, 'utf8');
      rmSync(stdoutPath);
      const m = /maxrss-kb (\d+)\s*$/.exec(r.stderr);
      expect(m, `${args.join(' ')}: ${r.stderr}`).not.toBeNull();
      const rss = Number(m![1]) * 1024;
      expect(rss, `${args.join(' ')} peaked at ${(rss / 2 ** 20).toFixed(0)} MiB`).toBeLessThan(PEAK_RSS_BOUND);
      const stderr = r.stderr.replace(/(Command exited with non-zero status \d+\n)?maxrss-kb \d+\s*$/, '');
      checkRun({ args, outputs: [] }, dir, before, { code: r.status ?? -1, stdout, stderr });
    }
  });
});
