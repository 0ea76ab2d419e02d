import type { Command } from 'commander';
import { ParamError } from '../../core/errors.ts';
import { runGrid, type GridSpec } from '../../experiment/grid.ts';
import { summariseCells, type ForwardBackwardRow } from '../../experiment/summary.ts';
import { resolveProcess, type ProcessName } from '../../noise/process.ts';
import { makeSchedule } from '../../noise/schedule.ts';
import { addGrammarOptions, resolveGrammarOptions, type GrammarOptionValues } from '../grammarOptions.ts';
import { toJsonText, writeFileAtomic } from '../files.ts';
import { parseInteger, parseNoiseLevels } from '../parse.ts';
import { startProgress } from '../progress.ts';
import { runInfo } from '../runInfo.ts';
import { fixed, formatTable, toCsv } from '../table.ts';
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
  backend: string;
  theory?: boolean;
  out?: string;
  csv?: string;
}

/** Processes from `eps` or a list `eps,mask`. */
export function parseProcesses(text: string): ProcessName[] {
  const list = text.split(',').map((p) => resolveProcess(p.trim()));
  if (new Set(list).size !== list.length) throw new ParamError('process', `invalid --process "${text}" (values must be distinct)`);
  return list;
}

export function registerForwardBackward(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('forward-backward')
    .description('noise data to a level, denoise exactly with BP, and measure what survives (docs/science.md §4)')
    .option('--process <names>', 'eps, uniform, mask or gaussian (comma list allowed)', 'eps')
    .option('--noise-levels <list>', 'list 0.6,0.7 or range start:end:count; ε for eps/uniform/mask, t/T for gaussian', '0.5:0.9:5')
    .option('--schedule <name>', 'linear or cosine (gaussian)', 'linear')
    .option('--samples <n>', 'data per grammar and cell', '1000')
    .option('--trajectories <k>', 'posterior samples per datum (chi needs >= 2)', '4')
    .option('--grammars <g>', 'number of grammar seeds: seed, seed+1, ..., seed+g-1', '1')
    .option('--correlations', 'also compute C(r) and C by tree distance (O(d^2 K) per datum)')
    .option('--theory', 'add mean-field and population-dynamics predictions (same grammars) beside each row (docs/science.md §5)')
    .option('--backend <name>', 'BP implementation: reference, fast (float64 SIMD) or fast32 (float32 SIMD)', 'fast')
    .option('--out <file>', 'write results JSON')
    .option('--csv <file>', 'write results CSV');
  addGrammarOptions(cmd, { depth: '2,4,6', depthHelp: 'depths, e.g. 2,4,6' }).action((o: ForwardBackwardOptionValues) => {
    const processes = parseProcesses(o.process);
    const noises = parseNoiseLevels('noise-levels', o.noiseLevels);
    const schedule = makeSchedule(o.schedule);
    const samples = parseInteger('samples', o.samples, 1, 1e9);
    const trajectories = parseInteger('trajectories', o.trajectories, 1, 100000);
    const grammarCount = parseInteger('grammars', o.grammars, 1, 10000);
    const backend = resolveBackend(o.backend);
    const choice = resolveGrammarOptions(o, true);
    if (choice.file && grammarCount !== 1) throw new ParamError('grammars', 'invalid --grammars with --grammar (a saved grammar is one grammar: expected 1)');
    const grammarSeeds = Array.from({ length: grammarCount }, (_, i) => choice.seed + i);
    const spec: GridSpec = { grammarSeeds, depths: choice.depths, processes, noises };
    const total = grammarSeeds.length * choice.depths.length * processes.length * noises.length * samples;
    const bar = startProgress('forward-backward', total);
    let cells;
    try {
      cells = runGrid(choice.grammarFor, spec, { samples, trajectories, schedule, correlations: o.correlations ?? false, backend }, (p) =>
        bar.update(p.samplesDone, { cells: `${p.cellsDone}/${p.cellsTotal}` }),
      );
    } finally {
      bar.stop();
    }
    const rows = summariseCells(cells);
    const theory = o.theory ? theoryForRows(rows, choice.grammarFor, { ...choice.params, schedule }) : undefined;
    process.stdout.write(formatRows(rows, theory));
    const parameters = {
      ...choice.params,
      depths: choice.depths,
      grammarFile: choice.file ?? null,
      rng: choice.rng,
      seed: choice.seed,
      grammarSeeds,
      processes,
      noiseLevels: noises,
      schedule: schedule.name,
      samples,
      trajectories,
      correlations: o.correlations ?? false,
      backend: backend.name,
      theory: o.theory ?? false,
    };
    if (o.out !== undefined) writeFileAtomic(o.out, toJsonText({ run: runInfo(argv), parameters, rows: theory ? rows.map((r, i) => ({ ...r, theory: theory[i] })) : rows, cells }));
    if (o.csv !== undefined) writeFileAtomic(o.csv, rowsToCsv(rows));
  });
}

export function formatRows(rows: readonly ForwardBackwardRow[], theory?: readonly RowTheory[]): string {
  return formatTable(
    ['L', 'process', 'noise', 'P0', 'SE', 'P0(sampled)', ...(theory ? ['P0 mean-field', 'P0 population'] : []), 'tokens kept', 'chi', 'P_l (root..leaves)'],
    rows.map((r, i) => [
      r.depth,
      r.process,
      r.noise,
      fixed(r.classKept),
      fixed(r.classKeptSE, 4),
      fixed(r.classKeptSampled),
      ...(theory ? [fixed(theory[i].meanField.classKept), fixed(theory[i].population.classKept)] : []),
      fixed(r.tokenKept),
      fixed(r.chi, 2),
      r.levelKept.map((x) => x.toFixed(2)).join(' '),
    ]),
  );
}

export function rowsToCsv(rows: readonly ForwardBackwardRow[]): string {
  const maxL = Math.max(...rows.map((r) => r.depth));
  const header = ['depth', 'process', 'noise', 'control', 'samples', 'trajectories', 'classKept', 'classKeptSE', 'classKeptSampled', 'classKeptSampledSE', 'classKeptGrammarSD', 'tokenKept', 'tokenKeptSE', 'chi', ...Array.from({ length: maxL + 1 }, (_, l) => `levelKept${l}`)];
  return toCsv(
    header,
    rows.map((r) => [r.depth, r.process, r.noise, r.control, r.samples, r.trajectories, r.classKept, r.classKeptSE, r.classKeptSampled, r.classKeptSampledSE, r.classKeptGrammarSD, r.tokenKept, r.tokenKeptSE, r.chi, ...Array.from({ length: maxL + 1 }, (_, l) => r.levelKept[l] ?? null)]),
  );
}
