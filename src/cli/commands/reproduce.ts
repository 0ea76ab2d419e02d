import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { ProcessName } from '../../noise/process.ts';
import { runSweep, validateSweepConfig, type SweepConfig, type SweepConfigInput, type SweepProgress } from '../../sweep/index.ts';
import { checkOutputFile, checkReportFolder, refuseExisting, reportEntries } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { OPTIONS } from '../../core/options.ts';
import { addOption, parseOption } from '../parse.ts';
import { progressLogSeconds, startProgress, throttledLines } from '../progress.ts';
import { sweepCommand } from './sweep.ts';
import { addTheoryOptions, parseTheoryOptions, THEORY_DEFAULTS, writeReport } from './report.ts';

/**
 * Noise grids around each process's transition (docs/science.md §4: ε* ≈ 0.73 for eps, ≈ 0.26 for mask,
 * ≈ 0.145 for uniform, t* ≈ 0.11 T for gaussian), denser near the crossing.
 */
const FULL_LEVELS: Record<ProcessName, number[]> = {
  eps: [0.5, 0.6, 0.65, 0.68, 0.7, 0.72, 0.73, 0.74, 0.76, 0.78, 0.8, 0.85, 0.9],
  mask: [0.1, 0.15, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.35, 0.4, 0.45],
  uniform: [0.05, 0.08, 0.1, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.2, 0.25, 0.3],
  gaussian: [0.05, 0.08, 0.09, 0.1, 0.105, 0.11, 0.115, 0.12, 0.13, 0.15, 0.2],
};

const QUICK_LEVELS: Record<ProcessName, number[]> = {
  eps: [0.5, 0.6, 0.65, 0.7, 0.73, 0.76, 0.8, 0.9],
  mask: [0.1, 0.2, 0.25, 0.3, 0.35, 0.45],
  uniform: [0.05, 0.1, 0.13, 0.16, 0.2, 0.3],
  gaussian: [0.05, 0.09, 0.11, 0.13, 0.15, 0.2],
};

/**
 * The default sweep of `hierdiff reproduce`: v = 32, m = 8, s = 2, L ∈ {2, 4, 6, 8}, all four
 * processes. Full: 4 grammar seeds × 1000 data (500 at L = 8), so pooled standard errors are
 * ≤ 0.01 away from the transition. Quick: the same figures from 2 seeds × 400 data (200 at L = 8)
 * on coarser grids, well under a minute on 2 cores.
 */
export function reproduceConfig(quick: boolean): SweepConfig {
  const input: SweepConfigInput = {
    vocab: 32,
    classes: 32,
    synonyms: 8,
    tuple: 2,
    rng: 'own',
    seed: 0,
    grammars: quick ? 2 : 4,
    depths: [2, 4, 6, 8],
    processes: ['eps', 'mask', 'uniform', 'gaussian'],
    noiseLevels: quick ? QUICK_LEVELS : FULL_LEVELS,
    samples: quick ? 400 : 1000,
    samplesByDepth: quick ? { '8': 200 } : { '8': 500 },
    trajectories: 8,
    schedule: 'linear',
    correlations: false,
  };
  return validateSweepConfig(input);
}

interface ReproduceOptionValues {
  quick?: boolean;
  out: string;
  workers?: string;
  resume?: boolean;
  overwrite?: boolean;
  population?: string;
  populationGrammars?: string;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 120 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** Sweep progress on stderr: a bar on a terminal, else one line every 30 s (CI logs; HIERDIFF_PROGRESS_EVERY). */
function progress(): { update(p: SweepProgress): void; stop(): void } {
  if (process.stderr.isTTY) {
    let bar: ReturnType<typeof startProgress> | null = null;
    return {
      update(p) {
        bar ??= startProgress('reproduce', p.samplesTotal);
        bar.update(p.samplesDone, { cells: `${p.cellsDone}/${p.cellsTotal}` });
      },
      stop: () => bar?.stop(),
    };
  }
  const say = throttledLines(progressLogSeconds() * 1000);
  return {
    update(p) {
      if (p.lastKey !== null)
        say(() => `reproduce: ${p.cellsDone}/${p.cellsTotal} cells, ${Math.round(p.samplesPerSecond)} samples/s, ETA ${p.etaSeconds === null ? '?' : seconds(p.etaSeconds * 1000)}`);
    },
    stop() {},
  };
}

export function registerReproduce(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('reproduce')
    .description("run the paper's RHM sweep (v32 m8 s2, L = 2,4,6,8, all four processes) and write results, figures and report.html")
    .option('--quick', 'the same figures from fewer grammar seeds, data and noise levels (under a minute on 2 cores)')
    .option('--out <dir>', 'output folder (results.jsonl, figures/, theory.json, report.html)', 'hierdiff-report');
  addOption(cmd, OPTIONS.workers, { help: `worker threads (default: all cores, here ${availableParallelism()})` });
  cmd
    .option('--resume', 'continue an interrupted run in --out (skips finished cells)')
    .option('--overwrite', 'replace the results and report already in --out (without it, or --resume, they are never replaced)');
  addTheoryOptions(cmd, {
    population: `${THEORY_DEFAULTS.full.population}, ${THEORY_DEFAULTS.quick.population} with --quick`,
    populationGrammars: `${THEORY_DEFAULTS.full.populationGrammars}, ${THEORY_DEFAULTS.quick.populationGrammars} with --quick`,
  }).action(async (o: ReproduceOptionValues) => {
    // Everything is checked before anything is written.
    const quick = o.quick ?? false;
    const theory = parseTheoryOptions(o, quick ? THEORY_DEFAULTS.quick : THEORY_DEFAULTS.full);
    const workers = o.workers === undefined ? availableParallelism() : parseOption(OPTIONS.workers, o.workers);
    const config = reproduceConfig(quick);
    const resultsPath = join(o.out, 'results.jsonl');
    // The output folder and its results file are checked before the sweep runs.
    checkReportFolder('out', o.out);
    checkOutputFile('out', resultsPath);
    // Finished results are never replaced silently: continue them, or say --overwrite.
    refuseExisting('out', o.out, [resultsPath, ...reportEntries(o.out)], { resume: o.resume, overwrite: o.overwrite, resumable: true });
    const started = Date.now();
    const bar = progress();
    // Ctrl-C: the finished cells are on disk, line by line.
    const unhook = explainInterrupt('reproduce', resumeHint(`finished cells are saved in ${resultsPath}`), () => bar.stop());
    let result;
    try {
      result = await runSweep(config, { out: resultsPath, workers, resume: o.resume ?? false, overwrite: o.overwrite ?? false, command: sweepCommand(argv), onProgress: (p) => bar.update(p) });
    } catch (e) {
      unhook();
      throw e;
    } finally {
      bar.stop();
    }
    const sweepMs = Date.now() - started;
    process.stderr.write(
      `reproduce: sweep of ${result.cells.length} cells on ${workers} worker(s) in ${seconds(sweepMs)}${result.resumed ? ` (${result.resumed} found finished)` : ''} -> ${resultsPath}\n`,
    );
    const reportStarted = Date.now();
    let written;
    try {
      written = await writeReport({ header: result.header, cells: result.cells, missing: [] }, { ...theory, outDir: o.out, resultsPath, log: (l) => process.stderr.write(`${l}\n`) });
    } finally {
      unhook();
    }
    process.stderr.write(`reproduce: theory and ${written.length} report files in ${seconds(Date.now() - reportStarted)}; total ${seconds(Date.now() - started)} -> ${join(o.out, 'report.html')}\n`);
  });
}
