import type { Command } from 'commander';
import { summariseCells } from '../../experiment/summary.ts';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import { readBounded } from '../../core/readBounded.ts';
import { isImagesResults } from '../../images/experiment/resultsFile.ts';
import { writeImagesReport } from '../../report/imagesReport.ts';
import type { Grammar } from '../../grammar/grammar.ts';
import { sampleRules } from '../../grammar/sampleRules.ts';
import { grammarFromJson } from '../../grammar/serialize.ts';
import { makeSchedule } from '../../noise/schedule.ts';
import { reportFigures, type FigureEntry } from '../../report/figureSet.ts';
import { reportHtml, type PageFigure } from '../../report/html.ts';
import { renderSvg, svgToPng } from '../../report/render.ts';
import { meanFieldTheory, populationCurves, populationLevels, type MeanFieldTheory, type PopulationCurves, type PopulationLevels } from '../../report/theory.ts';
import { grammarSeeds, readSweepFile, samplesAtDepth, type SweepConfig, type SweepFile } from '../../sweep/index.ts';
import { checkReportFolder, refuseExisting, reportEntries, toJsonText, writeFileAtomic } from '../files.ts';
import { writeReportFolder } from '../../core/outputDir.ts';
import { parseInteger } from '../parse.ts';
import { runInfo } from '../runInfo.ts';

/** How the report's theory curves are computed. */
export interface ReportTheoryOptions {
  /** Population-dynamics messages per (level, symbol); 0 skips population dynamics. */
  population: number;
  /** Population dynamics runs on the first this-many grammar seeds of the sweep (averaged). */
  populationGrammars: number;
}

export interface WriteReportOptions extends ReportTheoryOptions {
  /** Output folder: report.html, figures/, theory.json. */
  outDir: string;
  /** The results file, linked from the page. */
  resultsPath: string;
  /** The command that drew the figures, when it is not the one that made the results. */
  reportCommand?: string;
  /** One line of progress (stderr in the CLI). */
  log: (line: string) => void;
}

/** The grammar every (seed, depth) of a sweep used (as the sweep's workers build it). */
function grammarFor(config: SweepConfig): (seed: number, depth: number) => Grammar {
  const cache = new Map<string, Grammar>();
  return (seed, depth) => {
    const key = `${seed}|${depth}`;
    let g = cache.get(key);
    if (!g) {
      g = config.grammar ? grammarFromJson(config.grammar) : sampleRules({ vocab: config.vocab, classes: config.classes, synonyms: config.synonyms, tuple: config.tuple, depth }, seed, config.rng);
      cache.set(key, g);
    }
    return g;
  };
}

function list(xs: readonly (number | string)[]): string {
  return xs.join(', ');
}

function parameterRows(config: SweepConfig, file: SweepFile, theory: ReportTheoryOptions): [string, string][] {
  const seeds = grammarSeeds(config);
  const rows: [string, string][] = [
    [
      'grammar (docs/science.md §1)',
      `v = ${config.vocab}, n_c = ${config.classes}, m = ${config.synonyms}, s = ${config.tuple}${config.grammar ? ' (saved grammar)' : `, rules drawn by ${config.rng === 'python' ? 'the CPython-compatible generator (--rng python)' : 'hierdiff’s own generator'}`}`,
    ],
    ['depths L', list(config.depths)],
    ['grammar seeds', seeds.length > 6 ? `${seeds[0]} … ${seeds[seeds.length - 1]} (${seeds.length})` : list(seeds)],
    ['data per cell N', config.depths.map((L) => `L = ${L}: ${samplesAtDepth(config, L)}`).join('; ')],
    ['trajectories per datum K', String(config.trajectories)],
  ];
  for (const p of config.processes) rows.push([`noise levels, ${p}${p === 'gaussian' ? ' (t/T)' : ' (ε)'}`, list(config.noiseLevels[p] ?? [])]);
  if (config.processes.includes('gaussian')) rows.push(['schedule (gaussian)', `${config.schedule}, T = 1000, t = 0 is clean data`]);
  rows.push(['cells', `${file.cells.length} of ${file.header.cells}${file.missing.length ? ` (${file.missing.length} missing)` : ''}`]);
  rows.push(['estimator', 'P_ℓ by the marginal (Rao–Blackwellised) estimator E[μ_ℓ(z_true)]; bands ± 1 standard error of the pooled data']);
  rows.push(['population dynamics', theory.population > 0 ? `${theory.population} messages per symbol, first ${Math.min(theory.populationGrammars, seeds.length)} grammar seed(s)` : 'skipped']);
  return rows;
}

/**
 * The theory table: the mean-field transition, its threshold labelled with its process and method
 * (the map holds only for the ε-process), and for each real-noise process of the sweep the
 * method that applies to it.
 */
function theoryRows(mf: MeanFieldTheory | null, processes: readonly string[], population: readonly PopulationCurves[]): [string, string][] {
  if (!mf) return [];
  const rows: [string, string][] = !mf.transitionExists
    ? [['mean-field transition', 'none for these sizes (F′(1) ≥ 1 or no interior fixed point)']]
    : [
        ['unstable fixed point p*', mf.pStar!.toFixed(4)],
        ['ε-process critical ε (mean field) = (1 − p*)/(1 − 1/v)', mf.criticalNoise!.toFixed(4)],
        ['λ = F′(p*)', mf.lambda!.toFixed(4)],
        ['ν = ln s / ln λ', mf.nu!.toFixed(3)],
      ];
  for (const p of processes.filter((x) => x !== 'eps')) {
    const drawn = population.some((c) => c.process === p);
    rows.push([
      `${p}: mean field does not apply`,
      `the map holds only for the ε-process; ${drawn ? 'its prediction is population dynamics (dashed in its figure)' : 'its prediction is population dynamics (skipped here: --population 0)'}`,
    ]);
  }
  return rows;
}

/**
 * Draws a report from a sweep's results: theory curves (mean-field; population dynamics for real
 * noise), every figure as SVG and PNG under `outDir/figures`, `theory.json` and `report.html`.
 * These three replace the previous report's as a set, only once all are written; other files in
 * `outDir` are kept. Returns the files written.
 */
export async function writeReport(file: SweepFile, o: WriteReportOptions): Promise<string[]> {
  checkReportFolder('out', o.outDir);
  const config = file.header.config;
  const rows = summariseCells(file.cells);
  const depths = [...new Set(file.cells.map((c) => c.depth))].sort((a, b) => a - b);
  const params = { vocab: config.vocab, synonyms: config.synonyms, tuple: config.tuple, classes: config.classes };
  const epsLevels = config.noiseLevels.eps ?? [];
  const epsRange: [number, number] = epsLevels.length ? [Math.min(...epsLevels), Math.max(...epsLevels)] : [0.5, 0.9];
  const meanField = depths.length ? meanFieldTheory(params, depths, epsRange) : null;
  const population: PopulationCurves[] = [];
  let levels: PopulationLevels | null = null;
  if (o.population > 0) {
    const schedule = makeSchedule(config.schedule);
    const seeds = grammarSeeds(config).slice(0, Math.max(1, o.populationGrammars));
    const grammars = grammarFor(config);
    const levelProcess = config.processes.includes('eps') ? 'eps' : config.processes[0];
    for (const process of config.processes) {
      const noises = config.noiseLevels[process] ?? [];
      const started = Date.now();
      if (process !== 'eps') population.push(populationCurves({ process, depths, noises, grammarSeeds: seeds, grammarFor: grammars, schedule, population: o.population }));
      // The level figure shows eps (else the first process) at the deepest depth.
      if (process === levelProcess && depths.length)
        levels = populationLevels({ process, depth: depths[depths.length - 1], noises, grammarSeeds: seeds, grammarFor: grammars, schedule, population: o.population });
      o.log(`report: population dynamics for ${process} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    }
  }
  const figures: FigureEntry[] = reportFigures({ rows, processes: config.processes, scheduleName: config.schedule, meanField, population, populationLevels: levels });
  // Written into a temporary folder that replaces the previous report's files as a set (core/outputDir.ts).
  return writeReportFolder(o.outDir, (stage) => writeReportFiles(stage, file, o, figures, { meanField, population, levels }));
}

async function writeReportFiles(
  stage: string,
  file: SweepFile,
  o: WriteReportOptions,
  figures: readonly FigureEntry[],
  t: { meanField: MeanFieldTheory | null; population: PopulationCurves[]; levels: PopulationLevels | null },
): Promise<string[]> {
  const { meanField, population, levels } = t;
  const config = file.header.config;
  const written: string[] = [];
  const figDir = join(stage, 'figures');
  const pageFigures: PageFigure[] = [];
  for (const f of figures) {
    const svg = await renderSvg(f.spec);
    const svgPath = join(figDir, `${f.name}.svg`);
    const pngPath = join(figDir, `${f.name}.png`);
    writeFileAtomic(svgPath, svg);
    writeFileAtomic(pngPath, svgToPng(svg));
    written.push(svgPath, pngPath);
    pageFigures.push({ name: f.name, title: f.title, caption: f.caption, svg, links: [`figures/${f.name}.png`, `figures/${f.name}.svg`] });
  }
  const theoryPath = join(stage, 'theory.json');
  writeFileAtomic(theoryPath, toJsonText({ meanField, population, populationLevels: levels }));
  written.push(theoryPath);
  const notes: string[] = [];
  const shard = file.header.shard;
  if (shard) notes.push(`This is shard ${shard.index}/${shard.count} of a sharded sweep (drawn with --partial): merge the shards with hierdiff merge for the whole sweep.`);
  if (file.missing.length) notes.push(`${file.missing.length} cells of the sweep are missing (partial results); the figures show the cells present.`);
  if (o.reportCommand) notes.push(`Figures drawn by: ${o.reportCommand}`);
  const resultsLink = relative(resolve(o.outDir), resolve(o.resultsPath)).split(sep).join('/');
  const html = reportHtml({
    title: 'hierdiff: a phase transition in diffusion on hierarchical data',
    about: 'on the Random Hierarchy Model, with exact belief propagation as the denoiser',
    command: file.header.run.command,
    tool: `${file.header.run.tool} ${file.header.run.version}`,
    parameters: parameterRows(config, file, o),
    theory: theoryRows(meanField, config.processes, population),
    figures: pageFigures,
    notes,
    resultsFile: resultsLink,
  });
  const htmlPath = join(stage, 'report.html');
  writeFileAtomic(htmlPath, html);
  written.push(htmlPath);
  return written;
}

export interface ReportOptionValues {
  out: string;
  population?: string;
  populationGrammars?: string;
  partial?: boolean;
  overwrite?: boolean;
}

/** Population-dynamics defaults: full size for real sweeps, smaller for quick ones (theory would dominate their time). */
export const THEORY_DEFAULTS = { full: { population: 400, populationGrammars: 2 }, quick: { population: 150, populationGrammars: 1 } } as const;

/** Parses the theory options shared by `report` and `reproduce`; absent ones take `defaults`. */
export function parseTheoryOptions(o: { population?: string; populationGrammars?: string }, defaults: ReportTheoryOptions): ReportTheoryOptions {
  return {
    population: o.population === undefined ? defaults.population : parseInteger('population', o.population, 0, 1e6),
    populationGrammars: o.populationGrammars === undefined ? defaults.populationGrammars : parseInteger('population-grammars', o.populationGrammars, 1, 10000),
  };
}

/** Adds the theory options shared by `report` and `reproduce`. */
export function addTheoryOptions(cmd: Command, defaults: { population: string; populationGrammars: string }): Command {
  // No commander defaults: the command picks them (they depend on the sweep's size).
  return cmd
    .option('--population <n>', `population-dynamics messages per symbol for the theory curves, 0 to skip (default: ${defaults.population})`)
    .option('--population-grammars <g>', `run population dynamics on the first g grammar seeds, averaged (default: ${defaults.populationGrammars})`);
}

/** The first line of a file (empty when unreadable: the results reader then names the problem). */
function firstLine(path: string): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8').split('\n')[0];
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** What `report` reads, for messages about a file that is something else. */
const READS = 'report reads the results.jsonl of sweep, reproduce or images forward-backward';

/** Files hierdiff writes that are not results files, by their format tag: what each is, and what reads it. */
const OTHER_FILES: Record<string, (path: string) => string> = {
  'hierdiff.images-summary/1': (p) => `the summary.json of images forward-backward: give ${join(dirname(p), 'results.jsonl')}`,
  'hierdiff.learn-study/1': (p) => `the study.json of learn-study, which writes its own report (${join(dirname(p), 'report.html')})`,
  'hierdiff.image-stats/1': () => `whitening statistics from images stats, read by images forward-backward --stats; ${READS}`,
  'hierdiff.images-score/1': () => `a score file of images score; ${READS}`,
  'hierdiff.train-log/1': () => `the training log (train.json) of train; ${READS}`,
  'hierdiff.train-data/1': () => `the data.json of train, read by evaluate --train-data; ${READS}`,
  'hierdiff.grammar': () => `a grammar, read by --grammar; ${READS}`,
};

/** The format tag of a JSON object hierdiff wrote (`format`, or a grammar's `schema`). */
function formatTag(value: object): string | undefined {
  const o = value as { format?: unknown; schema?: unknown };
  return typeof o.format === 'string' ? o.format : typeof o.schema === 'string' ? o.schema : undefined;
}

/**
 * Refuses, in words, a path that is not a results file: a folder, a CSV table, or the one JSON
 * object another command wrote (forward-backward --out, summary.json, study.json, …), so the user
 * learns what the file is and which command reads it rather than "line 2 is not JSON".
 */
function checkResultsKind(path: string): void {
  const bad = (why: string): never => {
    throw new ParamError('results', `invalid results file "${path}" (${why})`);
  };
  const kind = statSync(path, { throwIfNoEntry: false });
  if (kind?.isDirectory()) {
    const inside = join(path, 'results.jsonl');
    bad(existsSync(inside) ? `a folder: give ${inside}` : `a folder; ${READS}`);
  }
  if (!kind?.isFile()) return; // the results reader names the problem
  const first = firstLine(path);
  let header: unknown;
  try {
    header = JSON.parse(first);
  } catch {
    header = undefined;
  }
  if (header !== null && typeof header === 'object' && !Array.isArray(header)) {
    // A JSON-lines file (the reader checks its header), or one compact JSON object of another kind.
    const tag = formatTag(header);
    if (tag !== undefined && tag in OTHER_FILES) bad(OTHER_FILES[tag](path));
    return;
  }
  if (!first.trimStart().startsWith('{') && first.includes(',')) bad(`a CSV table, as forward-backward --csv and sample --csv write; ${READS}`);
  let whole: unknown;
  try {
    whole = JSON.parse(readBounded(path, 64 * 1024 * 1024, 'results').toString('utf8'));
  } catch {
    return;
  }
  if (whole === null || typeof whole !== 'object') return;
  const tag = formatTag(whole);
  if (tag !== undefined && tag in OTHER_FILES) bad(OTHER_FILES[tag](path));
  const run = (whole as { run?: { command?: unknown } }).run;
  const command = typeof run?.command === 'string' ? /^hierdiff ((?:images )?[a-z-]+)/.exec(run.command)?.[1] : undefined;
  bad(`${command ? `the JSON of ${command}` : 'one JSON object'}, not a results file; ${READS}`);
}

export function registerReport(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('report')
    .description('redraw the figures and report.html from a saved results file (JSON lines from reproduce, sweep or images forward-backward)')
    .argument('<results>', 'results file (JSON lines)')
    .option('--out <dir>', 'output folder (report.html, figures/, theory.json)', 'hierdiff-report')
    .option('--partial', 'draw from an unfinished results file (cells still missing) or one shard of a sharded run')
    .option('--overwrite', 'replace a report already in --out');
  addTheoryOptions(cmd, { population: '400, or 150 for sweeps of under 500 data per cell', populationGrammars: '2, or 1 likewise' }).action(async (results: string, o: ReportOptionValues) => {
    // The output folder is checked before anything is read, computed or written.
    checkReportFolder('out', o.out);
    refuseExisting('out', o.out, reportEntries(o.out), { overwrite: o.overwrite });
    checkResultsKind(results);
    if (isImagesResults(firstLine(results))) {
      const started = Date.now();
      const written = await writeImagesReport(results, { outDir: o.out, partial: o.partial ?? false, reportCommand: runInfo(argv).command });
      process.stderr.write(`report: ${written.length} files in ${((Date.now() - started) / 1000).toFixed(1)}s -> ${join(o.out, 'report.html')}\n`);
      return;
    }
    // Everything is checked before anything is written.
    const file = readSweepFile(results, { partial: o.partial ?? false });
    const small = Math.min(file.header.config.samples, ...Object.values(file.header.config.samplesByDepth)) < 500;
    const theory = parseTheoryOptions(o, small ? THEORY_DEFAULTS.quick : THEORY_DEFAULTS.full);
    const started = Date.now();
    const written = await writeReport(file, { ...theory, outDir: o.out, resultsPath: results, reportCommand: runInfo(argv).command, log: (l) => process.stderr.write(`${l}\n`) });
    process.stderr.write(`report: ${written.length} files in ${((Date.now() - started) / 1000).toFixed(1)}s -> ${join(o.out, 'report.html')}\n`);
  });
}
