/**
 * The command line's own throughput, start-up included (the "cli" section of `npm run bench`; alone:
 * `node --import tsx bench/cli.ts [--quick] [--json]`). The whole process
 *
 *   hierdiff forward-backward --vocab 32 --synonyms 8 --tuple 2 --depth 8 --process eps \
 *     --noise-levels 0.7 --samples 100000 --trajectories 1 --no-marginals
 *
 * (evidence + upward + one posterior sample per datum and the observables: no downward pass) is
 * timed as a child process from spawn to exit, on all cores (the default --workers) and on one
 * (--workers 1), beside
 * - the fixed cost of a command line: `hierdiff --version`, and the same command with --samples 1;
 * - the in-library fast path on the same cell: a warm CellWorkerPool of all cores (no start-up);
 * - the reference backend (readable float64 BP) on the same workload, one thread and all cores.
 *
 * The authors' published BP (Python) is not installable here, so the reference backend's rate,
 * measured in the same run, stands in for it. Each timing is one run: on a shared machine compare
 * numbers within a run. `bin/hierdiff.js` runs the TypeScript sources through tsx in a checkout;
 * when dist/cli/run.js exists (after `npm run build`) the compiled command is timed as well.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveBackend } from '../src/bp/fast.ts';
import { CellWorkerPool } from '../src/experiment/parallelCell.ts';
import { runCell, type CellOptions, type CellSpec } from '../src/experiment/forwardBackward.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { linearSchedule } from '../src/noise/schedule.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin', 'hierdiff.js');
const DIST = join(ROOT, 'dist', 'cli', 'run.js');

export interface CliTiming {
  /** What ran: the argv after `node`. */
  command: string;
  wallSeconds: number;
  samples: number;
  /** samples / wall seconds, start-up included; null for runs that are not throughput. */
  samplesPerSec: number | null;
}

export interface CliBenchResult {
  workload: string;
  samples: number;
  workers: number;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  /** hierdiff through bin/hierdiff.js (tsx in a checkout), and the compiled dist/cli/run.js when built. */
  entries: { entry: string; startup: CliTiming; oneDatum: CliTiming; allCores: CliTiming; oneWorker: CliTiming; sameAsLibrary: boolean; staleBuild?: boolean }[];
  /** In-library fast (float64) path, warm pool of `workers` threads: samples per wall second. */
  libraryFastAllCores: number;
  /** Reference backend, same workload: one thread and a warm pool of `workers` threads. */
  referenceOneThread: number;
  referenceAllCores: number;
  referenceSamples: number;
}

const cliArgs = (samples: number): string[] => [
  'forward-backward',
  '--vocab',
  '32',
  '--synonyms',
  '8',
  '--tuple',
  '2',
  '--depth',
  '8',
  '--process',
  'eps',
  '--noise-levels',
  '0.7',
  '--samples',
  String(samples),
  '--trajectories',
  '1',
  '--no-marginals',
];

/** Whether some source file is newer than the compiled command (then dist/ may not be what src/ says). */
function distIsStale(): boolean {
  const built = statSync(DIST).mtimeMs;
  const src = join(ROOT, 'src');
  return readdirSync(src, { recursive: true, encoding: 'utf8' }).some((f) => f.endsWith('.ts') && statSync(join(src, f)).mtimeMs > built);
}

function timeChild(entry: string, args: string[], samples: number, throughput: boolean): CliTiming {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${entry} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return { command: ['node', entry.replace(ROOT, ''), ...args].join(' '), wallSeconds, samples, samplesPerSec: throughput ? samples / wallSeconds : null };
}

export async function runCliBench(quick: boolean): Promise<CliBenchResult> {
  const samples = quick ? 12500 : 100000;
  const workers = availableParallelism();
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'hierdiff-bench-cli-'));
  const out = join(dir, 'fb.json');

  // In-library, same cell: grammar seed 0 (the command's default --seed), K = 1, no marginals.
  const g = sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: 8 }, 0);
  const cell: CellSpec = { grammarSeed: 0, depth: 8, process: 'eps', noise: 0.7 };
  const options: CellOptions = { samples, trajectories: 1, schedule: linearSchedule(), marginals: false, correlations: false, backend: resolveBackend('fast') };
  const pool = new CellWorkerPool(workers);
  let libraryFastAllCores: number;
  let libraryStats: string;
  let referenceOneThread: number;
  let referenceAllCores: number;
  const referenceSamples = quick ? 500 : 3000;
  try {
    await pool.run(g, cell, { ...options, samples: Math.ceil(samples / 8) }); // warm-up: JIT, wasm tier-up
    let t = performance.now();
    libraryStats = JSON.stringify(await pool.run(g, cell, options));
    libraryFastAllCores = samples / ((performance.now() - t) / 1000);
    const reference = { ...options, samples: referenceSamples, backend: resolveBackend('reference') };
    runCell(g, cell, { ...reference, samples: Math.ceil(referenceSamples / 8) });
    t = performance.now();
    runCell(g, cell, reference);
    referenceOneThread = referenceSamples / ((performance.now() - t) / 1000);
    await pool.run(g, cell, { ...reference, samples: Math.ceil(referenceSamples / 4) });
    t = performance.now();
    await pool.run(g, cell, { ...reference, samples: 2 * referenceSamples });
    referenceAllCores = (2 * referenceSamples) / ((performance.now() - t) / 1000);
  } finally {
    await pool.close();
  }

  const entries: CliBenchResult['entries'] = [];
  for (const entry of [BIN, ...(existsSync(DIST) ? [DIST] : [])]) {
    const startup = timeChild(entry, ['--version'], 0, false);
    const oneDatum = timeChild(entry, cliArgs(1), 1, false);
    const allCores = timeChild(entry, [...cliArgs(samples), '--out', out], samples, true);
    const cliStats = JSON.stringify((JSON.parse(readFileSync(out, 'utf8')) as { cells: unknown[] }).cells[0]);
    const oneWorker = timeChild(entry, [...cliArgs(samples), '--workers', '1'], samples, true);
    entries.push({ entry: entry.replace(ROOT, ''), startup, oneDatum, allCores, oneWorker, sameAsLibrary: cliStats === libraryStats, ...(entry === DIST ? { staleBuild: distIsStale() } : {}) });
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    workload: `hierdiff ${cliArgs(samples).join(' ')} (v32 m8 s2 L8, ε = 0.7, K = 1, no downward pass)`,
    samples,
    workers,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadavg(),
    entries,
    libraryFastAllCores,
    referenceOneThread,
    referenceAllCores,
    referenceSamples,
  };
}

export function cliTable(r: CliBenchResult): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US').replace(/,/g, ' ');
  const lines = [`CLI: ${r.workload}`];
  for (const e of r.entries) {
    lines.push(
      `  ${e.entry}${e.staleBuild ? ' (OLDER THAN src/: npm run build)' : ''}: start-up (--version) ${e.startup.wallSeconds.toFixed(2)} s; --samples 1 ${e.oneDatum.wallSeconds.toFixed(2)} s`,
      `    --samples ${r.samples}, ${r.workers} workers (default): ${e.allCores.wallSeconds.toFixed(2)} s = ${n(e.allCores.samplesPerSec!)} samples/s incl. start-up (${(e.allCores.samplesPerSec! / r.referenceOneThread).toFixed(1)}x reference 1 thread, ${(e.allCores.samplesPerSec! / r.referenceAllCores).toFixed(1)}x reference ${r.workers} workers); same cell as the library: ${e.sameAsLibrary ? 'yes' : 'NO'}`,
      `    --samples ${r.samples}, --workers 1: ${e.oneWorker.wallSeconds.toFixed(2)} s = ${n(e.oneWorker.samplesPerSec!)} samples/s incl. start-up`,
    );
  }
  lines.push(
    `  library, fast, warm pool of ${r.workers} workers: ${n(r.libraryFastAllCores)} samples/s`,
    `  reference backend (stands in for the authors' BP): ${n(r.referenceOneThread)} samples/s on 1 thread, ${n(r.referenceAllCores)} on ${r.workers} workers (${r.referenceSamples} / ${2 * r.referenceSamples} samples)`,
    `  load average before ${r.loadAverageBefore.map((x) => x.toFixed(2)).join(' ')}, after ${r.loadAverageAfter.map((x) => x.toFixed(2)).join(' ')}`,
  );
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await runCliBench(process.argv.includes('--quick'));
  process.stdout.write(process.argv.includes('--json') ? JSON.stringify(r) : cliTable(r));
}
