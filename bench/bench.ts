/**
 * `npm run bench [-- --quick] [-- --out file.json] [-- --only "v32 m8 s2 L8,cli"]`: forward–backward throughput of the BP
 * backends (docs/science.md §2/§4). Per configuration: samples/s of the whole experiment loop (data
 * generation, ε-process evidence, upward sweep, one posterior sample per datum, observables;
 * no downward pass) for reference, fast (float64) and fast32 on one thread and on all cores
 * (runCellParallel), speed-ups, achieved GFLOP/s of the upward pass and peak RSS. Each
 * configuration runs in its own child process so its peak RSS is its own. Then the "cli" section
 * (bench/cli.ts): the `hierdiff forward-backward` command line itself, timed as a child process
 * with its start-up, beside the in-library fast path and the reference backend in the same run.
 *
 * A benchmark, not a test: nothing here asserts a speed.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolveBackend, type BackendName } from '../src/bp/fast.ts';
import { CellWorkerPool } from '../src/experiment/parallelCell.ts';
import { runCell, type CellOptions, type CellSpec } from '../src/experiment/forwardBackward.ts';
import { symbolsAt } from '../src/grammar/params.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { cliTable, type CliBenchResult } from './cli.ts';

interface Config {
  name: string;
  vocab: number;
  synonyms: number;
  tuple: number;
  depth: number;
  /** data per timed fast run (full mode); reference runs use a tenth. */
  samples: number;
  backends: BackendName[];
}

const ALL: BackendName[] = ['reference', 'fast', 'fast32'];
const CONFIGS: Config[] = [
  { name: 'v32 m8 s2 L8', vocab: 32, synonyms: 8, tuple: 2, depth: 8, samples: 16384, backends: ALL },
  { name: 'v32 m8 s2 L10', vocab: 32, synonyms: 8, tuple: 2, depth: 10, samples: 4096, backends: ALL },
  { name: 'v32 m8 s2 L12', vocab: 32, synonyms: 8, tuple: 2, depth: 12, samples: 1024, backends: ALL },
  { name: 'v16 m4 s2 L8', vocab: 16, synonyms: 4, tuple: 2, depth: 8, samples: 32768, backends: ALL },
  { name: 'v8 m4 s3 L5', vocab: 8, synonyms: 4, tuple: 3, depth: 5, samples: 32768, backends: ALL },
  // Memory check at the largest depth asked for (16 384 tokens): fast paths only.
  { name: 'v32 m8 s2 L14', vocab: 32, synonyms: 8, tuple: 2, depth: 14, samples: 128, backends: ['fast', 'fast32'] },
];

interface Measure {
  backend: BackendName;
  samples: number;
  /** one thread: samples per wall second, and per CPU second of this process (less sensitive to other load). */
  samplesPerSec1: number;
  samplesPerCpuSec1: number;
  /** all cores (runCellParallel, `workers` threads): samples per wall second. */
  samplesPerSecAll: number;
  workers: number;
  /** upward multiply–adds per second (one per child factor of each rule), ×2 = FLOP. */
  upwardGflops1: number;
  upwardGflopsAll: number;
}

interface ConfigResult {
  config: string;
  tokens: number;
  upwardMacsPerDatum: number;
  measures: Measure[];
  peakRssMiB: number;
}

/** Upward multiply–adds per datum: Σ_ℓ<L s^ℓ·N_ℓ·m·s (each rule multiplies s child messages and adds). */
function upwardMacs(c: Config): number {
  const g = { vocab: c.vocab, classes: c.vocab, synonyms: c.synonyms, tuple: c.tuple, depth: c.depth };
  let macs = 0;
  for (let l = 0; l < c.depth; l++) macs += c.tuple ** l * symbolsAt(g, l) * c.synonyms * c.tuple;
  return macs;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function runConfig(c: Config, quick: boolean): Promise<ConfigResult> {
  const g = sampleRules({ vocab: c.vocab, synonyms: c.synonyms, tuple: c.tuple, depth: c.depth }, 0);
  const cell: CellSpec = { grammarSeed: 0, depth: c.depth, process: 'eps', noise: 0.7 };
  const schedule = linearSchedule();
  const macs = upwardMacs(c);
  const workers = availableParallelism();
  // A warm pool: worker start-up (about a second each, loading the sources) is not throughput.
  const pool = new CellWorkerPool(workers);
  const measures: Measure[] = [];
  for (const name of c.backends) {
    const backend = resolveBackend(name);
    const samples = Math.max(1, Math.round((c.samples * (name === 'reference' ? 0.1 : 1)) / (quick ? 8 : 1)));
    const options: CellOptions = { samples, trajectories: 1, schedule, marginals: false, correlations: false, backend };
    // Warm-up on this thread and on the workers: JIT and wasm tier-up.
    runCell(g, cell, { ...options, samples: Math.max(1, Math.ceil(samples / 8)) });
    await pool.run(g, cell, { ...options, samples: Math.max(1, Math.ceil(samples / 4)) });
    const w0 = performance.now();
    const c0 = cpuMs();
    runCell(g, cell, options);
    const c1 = cpuMs();
    const w1 = performance.now();
    await pool.run(g, cell, options);
    const w2 = performance.now();
    const rate1 = (samples / (w1 - w0)) * 1000;
    const rateAll = (samples / (w2 - w1)) * 1000;
    measures.push({
      backend: name,
      samples,
      samplesPerSec1: rate1,
      samplesPerCpuSec1: (samples / (c1 - c0)) * 1000,
      samplesPerSecAll: rateAll,
      workers,
      upwardGflops1: (2 * macs * rate1) / 1e9,
      upwardGflopsAll: (2 * macs * rateAll) / 1e9,
    });
  }
  await pool.close();
  return { config: c.name, tokens: c.tuple ** c.depth, upwardMacsPerDatum: macs, measures, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

function table(results: ConfigResult[]): string {
  const head = ['config', 'backend', 'samples', '1 thread /s', '1 thread /cpu-s', 'all cores /s', 'x ref (1t)', 'x ref (all)', 'GFLOP/s 1t', 'GFLOP/s all', 'peak RSS MiB'];
  const rows: string[][] = [];
  for (const r of results) {
    const ref = r.measures.find((m) => m.backend === 'reference');
    for (const m of r.measures) {
      rows.push([
        r.config,
        m.backend,
        String(m.samples),
        fmt(m.samplesPerSec1),
        fmt(m.samplesPerCpuSec1),
        `${fmt(m.samplesPerSecAll)} (${m.workers}w)`,
        ref ? fmt(m.samplesPerSec1 / ref.samplesPerSec1, 1) : '—',
        ref ? fmt(m.samplesPerSecAll / ref.samplesPerSecAll, 1) : '—',
        fmt(m.upwardGflops1, 2),
        fmt(m.upwardGflopsAll, 2),
        fmt(r.peakRssMiB),
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((x, i) => (i < 2 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

async function main(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const childIndex = argv.indexOf('--child');
  if (childIndex >= 0) {
    const c = CONFIGS.find((x) => x.name === argv[childIndex + 1]);
    if (!c) throw new Error(`unknown config ${argv[childIndex + 1]}`);
    process.stdout.write(JSON.stringify(await runConfig(c, quick)));
    return;
  }
  const outIndex = argv.indexOf('--out');
  const out = outIndex >= 0 ? argv[outIndex + 1] : fileURLToPath(new URL('./results.json', import.meta.url));
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex >= 0 ? argv[onlyIndex + 1].split(',') : null;
  const configs = only ? CONFIGS.filter((c) => only.includes(c.name)) : CONFIGS;
  const withCli = !only || only.includes('cli');
  const loadBefore = loadavg();
  const results: ConfigResult[] = [];
  for (const c of configs) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', c.name, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) throw new Error(`bench child for ${c.name} failed:\n${child.stderr}`);
    results.push(JSON.parse(child.stdout) as ConfigResult);
    process.stderr.write(`done ${c.name}\n`);
  }
  let cli: CliBenchResult | null = null;
  if (withCli) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(new URL('./cli.ts', import.meta.url)), '--json', ...(quick ? ['--quick'] : [])], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (child.status !== 0) throw new Error(`bench cli section failed:\n${child.stderr}`);
    cli = JSON.parse(child.stdout) as CliBenchResult;
    process.stderr.write('done cli\n');
  }
  if (results.length > 0) process.stdout.write(table(results));
  if (cli) process.stdout.write(cliTable(cli));
  const loadAfter = loadavg();
  process.stdout.write(
    `cores: ${availableParallelism()} (${cpus()[0]?.model ?? '?'}); load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}\n`,
  );
  const json = {
    command: `npm run bench${argv.length > 2 ? ' -- ' + argv.slice(2).join(' ') : ''}`,
    date: new Date().toISOString(),
    node: process.version,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? null,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    quick,
    workload: 'runCell, ε-process at ε = 0.7, K = 1 posterior sample per datum, marginals off, grammar seed 0',
    results,
    cli,
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
}

await main(process.argv);
