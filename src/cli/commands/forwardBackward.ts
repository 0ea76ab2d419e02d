import type { Command } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import { CELL_CONDITION_FIELDS } from '../../experiment/cell.ts';
import { runGridParallel, type GridSpec } from '../../experiment/grid.ts';
import { planGridResources } from '../../experiment/forwardBackward.ts';
import { summariseCells, type ForwardBackwardRow } from '../../experiment/summary.ts';
import { resolveProcess, type ProcessName } from '../../noise/process.ts';
import { makeSchedule } from '../../noise/schedule.ts';
import { addGrammarOptions, grammarProvenance, resolveGrammarOptions, type GrammarOptionValues } from '../grammarOptions.ts';
import { addOverwriteOption, checkOutputFile, refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { addOption, checkScheduleUsed, parseNoiseLevels, parseOption } from '../parse.ts';
import { startProgress } from '../progress.ts';
import { runInfo } from '../runInfo.ts';
import { fixed, formatTable, significant, toCsv } from '../table.ts';
import { theoryForRows, type RowTheory } from '../../theory/rowTheory.ts';
import { resolveBackend } from '../../bp/fast.ts';

export interface ForwardBackwardOptionValues extends GrammarOptionValues {
  process: string;
  noiseLevels: string;
  schedule: string;
  samples: string;
  trajectories: string;
  grammars: string;
  correlations?: boolean;
  /** Commander's negatable `--no-marginals`: true unless it is given. */
  marginals: boolean;
  workers?: string;
  backend: string;
  theory?: boolean;
  out?: string;
  csv?: string;
  overwrite?: boolean;
}

/** Processes from `eps` or a list `eps,mask`. */
export function parseProcesses(text: string): ProcessName[] {
  const list = text.split(',').map((p) => resolveProcess(p.trim()));
  if (new Set(list).size !== list.length) throw new ParamError('process', `invalid --process "${text}" (values must be distinct)`);
  return list;
}

/**
 * The command recorded in the results: the argv without `--workers N` (it says how to run, not
 * what to compute), so the results file is the same bytes for any number of workers.
 */
export function forwardBackwardCommand(argv: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--workers') i++;
    else if (!argv[i].startsWith('--workers=')) kept.push(argv[i]);
  }
  return runInfo(kept).command;
}

export function registerForwardBackward(program: Command, argv: readonly string[]): void {
  const cmd = program.command('forward-backward').description('noise data to a level, denoise exactly with BP, and measure what survives (docs/science.md §4)');
  for (const option of [OPTIONS.process, OPTIONS.noiseLevels, OPTIONS.schedule, OPTIONS.samples]) addOption(cmd, option);
  addOption(cmd, OPTIONS.trajectories, {
    help: 'posterior samples per datum (chi needs >= 2); each one after the first adds roughly half the cost of a K = 1 datum (at L8, K = 4 is 2-3x slower than K = 1)',
  });
  for (const option of [OPTIONS.grammars, OPTIONS.correlations]) addOption(cmd, option);
  cmd.option(
    '--no-marginals',
    'skip the downward pass and the marginal estimators E[mu_l(z_true)] of P_l and tokens kept; that pass costs about twice the work of evidence + upward + one posterior sample (at L8 the run is about 3x faster without it at K = 1, 2x at K = 4); P_l and tokens kept then come from the K posterior samples (sampled estimator, columns marked "sampled"); P0 = E[mu_0(c)] needs no downward pass and is unchanged',
  );
  addOption(cmd, OPTIONS.workers, { help: `${OPTIONS.workers.help}; 1 runs on this thread; starting a worker costs up to about 1 s (default: all cores, here ${availableParallelism()})` });
  cmd
    .option(
      '--theory',
      'add mean-field and population-dynamics predictions (same grammars) beside each row, in the table, the JSON and the CSV; the mean field applies only to eps and is marked n/a for mask, uniform and gaussian (docs/theory.md)',
    )
    .option('--backend <name>', 'BP implementation: reference, fast (float64 SIMD) or fast32 (float32 SIMD)', 'fast')
    .option('--out <file>', 'write results JSON')
    .option('--csv <file>', 'write results CSV');
  addOverwriteOption(cmd);
  addGrammarOptions(cmd, { depth: '2,4,6', depthHelp: 'depths, e.g. 2,4,6' }).action((o: ForwardBackwardOptionValues, self: Command) => runForwardBackward(o, self, argv));
}

async function runForwardBackward(o: ForwardBackwardOptionValues, self: Command, argv: readonly string[]): Promise<void> {
  const processes = parseProcesses(o.process);
  checkScheduleUsed(self, processes);
  const noises = parseNoiseLevels('noise-levels', o.noiseLevels);
  const schedule = makeSchedule(o.schedule);
  const samples = parseOption(OPTIONS.samples, o.samples);
  const trajectories = parseOption(OPTIONS.trajectories, o.trajectories);
  const grammarCount = parseOption(OPTIONS.grammars, o.grammars);
  const backend = resolveBackend(o.backend);
  const marginals = o.marginals;
  const workers = o.workers === undefined ? availableParallelism() : parseOption(OPTIONS.workers, o.workers);
  const choice = resolveGrammarOptions(o, true);
  if (choice.file && grammarCount !== 1) throw new ParamError('grammars', 'invalid --grammars with --grammar (a saved grammar is one grammar: expected 1)');
  const grammarSeeds = Array.from({ length: grammarCount }, (_, i) => choice.seed + i);
  // Output paths are checked before computing: a bad --csv must not leave an --out file behind.
  checkOutputPaths(o);
  // Memory of the whole request before anything runs (docs/limits.md): refuse, fall back from
  // the fast kernels, or use fewer workers.
  const plan = planGridResources(
    (depth) => choice.grammarFor(choice.seed, depth),
    { grammars: grammarSeeds.length, depths: choice.depths, processes: processes.length, noises: noises.length },
    { samples, trajectories, correlations: o.correlations ?? false, backend, workers, json: o.out !== undefined },
  );
  for (const note of plan.notes) process.stderr.write(`${note}\n`);
  const spec: GridSpec = { grammarSeeds, depths: choice.depths, processes, noises };
  const total = grammarSeeds.length * choice.depths.length * processes.length * noises.length * samples;
  const bar = startProgress('forward-backward', total);
  let cells;
  try {
    cells = await runGridParallel(
      choice.grammarFor,
      spec,
      { samples, trajectories, schedule, marginals, correlations: o.correlations ?? false, backend },
      { workers: plan.workers, backendByDepth: plan.backendByDepth },
      (p) => bar.update(p.samplesDone, { cells: `${p.cellsDone}/${p.cellsTotal}` }),
    );
  } finally {
    bar.stop();
  }
  const rows = summariseCells(cells);
  const theory = o.theory ? theoryForRows(rows, choice.grammarFor, { ...choice.params, schedule }) : undefined;
  process.stdout.write(formatRows(rows, theory, { sampledLevels: !marginals }));
  const parameters = {
    ...choice.params,
    depths: choice.depths,
    ...grammarProvenance(choice),
    // A saved grammar is one grammar, drawn with the seed it records (dataSeed seeds the data).
    grammarSeeds: choice.origin ? (choice.origin.seed === null ? null : [choice.origin.seed]) : grammarSeeds,
    processes,
    noiseLevels: noises,
    schedule: schedule.name,
    samples,
    trajectories,
    correlations: o.correlations ?? false,
    marginals,
    levelEstimator: marginals ? 'marginal' : 'sampled',
    backend: backend.name,
    // Only where a depth fell back from the fast kernels (absent otherwise).
    ...(plan.backendByDepth.size > 0 ? { backendByDepth: Object.fromEntries(choice.depths.map((d) => [String(d), (plan.backendByDepth.get(d) ?? backend).name])) } : {}),
    theory: o.theory ?? false,
  };
  const outWasThere = o.out !== undefined && existsSync(o.out);
  if (o.out !== undefined)
    writeFileAtomic(
      o.out,
      toJsonText({ run: { ...runInfo(argv), command: forwardBackwardCommand(argv) }, parameters, rows: theory ? rows.map((r, i) => ({ ...r, theory: theory[i] })) : rows, cells }),
    );
  try {
    if (o.csv !== undefined) writeFileAtomic(o.csv, rowsToCsv(rows, theory, { sampledLevels: !marginals }));
  } catch (e) {
    // A failed command leaves no new file behind.
    if (o.out !== undefined && !outWasThere) rmSync(o.out, { force: true });
    throw e;
  }
  for (const path of [o.out, o.csv]) if (path !== undefined) process.stderr.write(`wrote ${path}\n`);
}

/** --out and --csv: writable, not the same file, and not there already unless --overwrite. */
function checkOutputPaths(o: Pick<ForwardBackwardOptionValues, 'out' | 'csv' | 'overwrite'>): void {
  if (o.out !== undefined) checkOutputFile('out', o.out);
  if (o.csv !== undefined) checkOutputFile('csv', o.csv);
  if (o.out !== undefined && o.csv !== undefined && resolve(o.out) === resolve(o.csv)) throw new ParamError('csv', `invalid --csv "${o.csv}" (the same file as --out)`);
  refuseExistingFiles(
    [
      ['out', o.out],
      ['csv', o.csv],
    ],
    o.overwrite,
  );
}

/** `sampledLevels`: the rows' levelKept/tokenKept are the sampled estimators (marginals were skipped). */
export interface LevelColumnsOptions {
  readonly sampledLevels?: boolean;
}

/**
 * The table of rows; with `theory`, the two predictions of P_0, a mean field that does not apply to
 * the row's process (mask, uniform, gaussian) marked "(n/a)" and explained under the table.
 */
export function formatRows(rows: readonly ForwardBackwardRow[], theory?: readonly RowTheory[], options: LevelColumnsOptions = {}): string {
  const sampled = options.sampledLevels ?? false;
  const notApplying = theory ? [...new Set(rows.filter((_, i) => !theory[i].meanField.applies).map((r) => r.process))] : [];
  const note = notApplying.length ? `n/a: the mean-field map does not apply to ${notApplying.join(', ')} noise (it holds only for the eps-process); P0 population is the prediction there\n` : '';
  const theoryCell = (t: RowTheory['meanField'] | RowTheory['population']) => fixed(t.classKept) + (t.applies ? '' : ' (n/a)');
  return (
    formatTable(
      [
        'L',
        'process',
        'noise',
        'P0',
        'SE',
        'P0(sampled)',
        ...(theory ? ['P0 mean-field', 'P0 population'] : []),
        sampled ? 'tokens kept (sampled)' : 'tokens kept',
        'chi',
        sampled ? 'P_l sampled (root..leaves)' : 'P_l (root..leaves)',
      ],
      rows.map((r, i) => [
        r.depth,
        r.process,
        r.noise,
        fixed(r.classKept),
        significant(r.classKeptSE),
        fixed(r.classKeptSampled),
        ...(theory ? [theoryCell(theory[i].meanField), theoryCell(theory[i].population)] : []),
        fixed(r.tokenKept),
        fixed(r.chi, 2),
        r.levelKept.map((x) => x.toFixed(2)).join(' '),
      ]),
    ) + note
  );
}

/**
 * With `sampledLevels` the level columns are named for the sampled estimator (tokenKeptSampled, levelKeptSampled<l>).
 * With `theory`, the table's theory columns follow classKeptGrammarSD: classKeptMeanField, meanFieldApplies
 * (false for mask, uniform and gaussian), classKeptPopulation, populationApplies.
 */
export function rowsToCsv(rows: readonly ForwardBackwardRow[], theory?: readonly RowTheory[], options: LevelColumnsOptions = {}): string {
  const maxL = Math.max(...rows.map((r) => r.depth));
  const tag = options.sampledLevels ? 'Sampled' : '';
  const header = [
    ...CELL_CONDITION_FIELDS,
    'classKept',
    'classKeptSE',
    'classKeptSampled',
    'classKeptSampledSE',
    'classKeptGrammarSD',
    ...(theory ? ['classKeptMeanField', 'meanFieldApplies', 'classKeptPopulation', 'populationApplies'] : []),
    `tokenKept${tag}`,
    `tokenKept${tag}SE`,
    'chi',
    ...Array.from({ length: maxL + 1 }, (_, l) => `levelKept${tag}${l}`),
  ];
  return toCsv(
    header,
    rows.map((r, i) => [
      r.depth,
      r.process,
      r.noise,
      r.control,
      r.samples,
      r.trajectories,
      r.classKept,
      r.classKeptSE,
      r.classKeptSampled,
      r.classKeptSampledSE,
      r.classKeptGrammarSD,
      ...(theory ? [theory[i].meanField.classKept, String(theory[i].meanField.applies), theory[i].population.classKept, String(theory[i].population.applies)] : []),
      r.tokenKept,
      r.tokenKeptSE,
      r.chi,
      ...Array.from({ length: maxL + 1 }, (_, l) => r.levelKept[l] ?? null),
    ]),
  );
}
