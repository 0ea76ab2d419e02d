import type { Command } from 'commander';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import { readGrammarFileWithOrigin } from '../../grammar/serialize.ts';
import { checkAgainstGrammar, explicitOption, type GrammarOptionValues } from '../grammarOptions.ts';
import { resolveRuleRng, type RuleRng } from '../../grammar/sampleRules.ts';
import type { Grammar } from '../../grammar/grammar.ts';
import { resolveProcess, type ProcessName } from '../../noise/process.ts';
import { makeSchedule, type Schedule } from '../../noise/schedule.ts';
import { deepGrammar } from '../../theory/deepGrammar.ts';
import { criticalPoint, validateMeanFieldParams, type CriticalPoint, type MeanFieldParams } from '../../theory/meanField.ts';
import { theoryGrid, type GridTheory } from '../../theory/grid.ts';
import { populationThreshold, type ThresholdResult } from '../../theory/populationThreshold.ts';
import { defaultTheoryMethod, meanFieldCriticalNoise, theoryApplies, THEORY_METHODS, type TheoryMethod } from '../../theory/predict.ts';
import { refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { populationBytes, requireMemory } from '../../core/resources.ts';
import { addOption, checkScheduleUsed, kebab, parseInteger, parseIntegerList, parseNoiseLevels, parseOption } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { fixed, formatTable, significant } from '../table.ts';

/** Options that only population dynamics uses (with --method population or --threshold), as commander names them. */
const POPULATION_ONLY = ['population', 'seed', 'grammars', 'rng', 'annealed'];

export { THEORY_METHODS, type TheoryMethod };

/**
 * Population-dynamics messages per (level, symbol) unless --population says otherwise: the default
 * grid of a real-noise process (4 depths × 7–9 noise levels, level profiles included) runs in a few
 * seconds; population noise on P_0 is then 0.01–0.02, up to 0.04 at L = 8 at the transition (SD ∝ 1/√N; docs/theory.md).
 */
export const THEORY_POPULATION = 300;

/** The grammar options (src/core/options.ts), and theory's own. */
interface TheoryOptionValues extends GrammarOptionValues {
  overwrite?: boolean;
  process: string;
  noiseLevels?: string;
  method?: string;
  population: string;
  grammars: string;
  schedule: string;
  annealed?: boolean;
  threshold?: boolean;
  thresholdDepth: string;
  out?: string;
}

/** Noise ranges that straddle each process's transition at v=32, m=8, s=2 (docs/science.md §4). */
const DEFAULT_NOISE: Record<ProcessName, string> = {
  eps: '0.5:0.9:9',
  mask: '0.1:0.4:7',
  uniform: '0.05:0.25:9',
  gaussian: '0.05:0.2:7',
};

/** One row of `hierdiff theory`: one depth and noise level. */
export interface TheoryRow {
  depth: number;
  process: ProcessName;
  /** ε (eps, uniform, mask) or t/T (gaussian). */
  noise: number;
  method: TheoryMethod;
  /** Whether the method predicts this process (false: the mean field on mask, uniform or gaussian). */
  applies: boolean;
  /** Mean-field: the effective leaf belief p_L. */
  leafBelief?: number;
  /** Predicted P_0. */
  classKept: number;
  /** Population: SD of P_0 over grammars. */
  classKeptGrammarSD?: number | null;
  /** Predicted P_ℓ, ℓ = 0..L (mean field: upward-only; population: full marginals when computed). */
  levelKept: number[] | null;
  /** Population: E[ν↑_ℓ(z_true)]. */
  upwardKept?: number[];
}

export function registerTheory(program: Command, argv: readonly string[]): void {
  const cmd = program.command('theory').description('mean-field map and population dynamics of BP messages: critical noise and predicted P_0, P_l (docs/science.md §5)');
  for (const option of [OPTIONS.vocab, OPTIONS.classes, OPTIONS.synonyms, OPTIONS.tuple]) addOption(cmd, option);
  addOption(cmd, OPTIONS.process, { arg: '<name>', help: 'eps, uniform, mask or gaussian' });
  addOption(cmd, OPTIONS.depth, { arg: '<list>', help: 'depths, e.g. 2,4,8,30', default: '2,4,6,8' });
  addOption(cmd, OPTIONS.noiseLevels, { help: `${OPTIONS.noiseLevels.help} (default: a range around the process transition)`, default: undefined });
  cmd
    .option('--method <name>', 'mean-field or population (default: the one that applies: mean-field for eps, population for mask, uniform and gaussian, where the mean-field map does not apply)')
    .option('--population <n>', 'population: messages per level and symbol (population noise on P_0 shrinks like 1/sqrt(N); use 1000 or more for numbers to quote)', String(THEORY_POPULATION));
  addOption(cmd, OPTIONS.seed, { help: 'population: first grammar seed (grammars seed..seed+g-1); also seeds the population streams' });
  addOption(cmd, OPTIONS.grammars, { help: 'population: number of grammar seeds' });
  addOption(cmd, OPTIONS.rng, { help: 'population: rule generator' });
  addOption(cmd, OPTIONS.schedule);
  cmd
    .option('--annealed', 'population: fresh random rules at every node instead of a grammar')
    .option('--threshold', 'also estimate the L -> infinity threshold by population dynamics (bisection at --threshold-depth)')
    .option('--threshold-depth <L>', 'depth used for --threshold', '30');
  addOption(cmd, OPTIONS.grammar, { help: 'population: use a saved grammar (fixes v, n_c, m, s and the depth)' });
  cmd
    .option('--out <file>', 'write results JSON')
    .option('--overwrite', 'replace --out if it exists')
    .action((o: TheoryOptionValues, self: Command) => runTheory(o, self, argv));
}

/** The settings of a theory run, checked. */
interface TheorySettings {
  processName: ProcessName;
  method: TheoryMethod;
  loaded: ReturnType<typeof readGrammarFileWithOrigin> | null;
  saved: Grammar | null;
  sizes: Required<MeanFieldParams>;
  depths: number[];
  noises: number[];
  population: number;
  seed: number;
  grammarCount: number;
  rng: RuleRng;
  schedule: Schedule;
  thresholdDepth: number;
  annealed: boolean;
  grammarSeeds: number[];
}

function theorySettings(o: TheoryOptionValues, self: Command): TheorySettings {
  const processName = resolveProcess(o.process);
  // Without --method, the theory that applies to the process (docs/theory.md).
  const method = o.method === undefined ? defaultTheoryMethod(processName) : resolveVariant('method', o.method, THEORY_METHODS);
  const given = (name: string) => explicitOption(self, name);
  if (method === 'mean-field' && !o.threshold) {
    const unused = POPULATION_ONLY.find(given);
    const why = o.method === undefined ? 'the mean-field map, the default for --process eps, has no population' : 'the mean-field map has no population';
    if (unused) throw new ParamError(kebab(unused), `invalid --${kebab(unused)} without --method population or --threshold (${why})`);
  }
  if (!o.threshold && given('thresholdDepth')) throw new ParamError('threshold-depth', 'invalid --threshold-depth without --threshold');
  checkScheduleUsed(self, [processName]);
  const loaded = o.grammar === undefined ? null : readGrammarFileWithOrigin(o.grammar);
  const saved = loaded?.grammar ?? null;
  if (saved) checkAgainstGrammar(saved, o.grammar!, o, (name) => explicitOption(self, name), true);
  if (saved && (method !== 'population' || o.annealed || o.threshold)) {
    throw new ParamError('grammar', 'invalid --grammar (a saved grammar is used only by --method population, without --annealed or --threshold)');
  }
  const sizes = validateMeanFieldParams(
    saved
      ? { vocab: saved.vocab, synonyms: saved.synonyms, tuple: saved.tuple, classes: saved.classes }
      : {
          vocab: parseOption(OPTIONS.vocab, o.vocab),
          synonyms: parseOption(OPTIONS.synonyms, o.synonyms),
          tuple: parseOption(OPTIONS.tuple, o.tuple),
          ...(o.classes === undefined ? {} : { classes: parseOption(OPTIONS.classes, o.classes) }),
        },
  );
  const seed = parseOption(OPTIONS.seed, o.seed);
  const grammarCount = parseOption(OPTIONS.grammars, o.grammars);
  return {
    processName,
    method,
    loaded,
    saved,
    sizes,
    depths: saved ? [saved.depth] : parseIntegerList('depth', o.depth, 1, method === 'mean-field' ? 100000 : 10000),
    noises: parseNoiseLevels('noise-levels', o.noiseLevels ?? DEFAULT_NOISE[processName]),
    population: parseInteger('population', o.population, 2, 1e7),
    seed,
    grammarCount,
    rng: resolveRuleRng(o.rng),
    schedule: makeSchedule(o.schedule),
    thresholdDepth: parseInteger('threshold-depth', o.thresholdDepth, 1, 10000),
    annealed: o.annealed ?? false,
    grammarSeeds: Array.from({ length: grammarCount }, (_, i) => seed + i),
  };
}

/** Whether the level profile (every level's population kept) fits at a depth. */
function profileFits(t: TheorySettings, depth: number): boolean {
  return (depth + 1) * t.sizes.vocab ** 2 * t.population * 8 <= 2 ** 29;
}

/** Memory of the population runs, checked before any runs (docs/limits.md). */
function checkTheoryMemory(t: TheorySettings, threshold: boolean): void {
  const why = t.annealed
    ? 'annealed population dynamics keeps two levels of N·v message floats; lower --population'
    : 'population dynamics keeps v²·N message floats per level (two levels; every level for the level profile); lower --population';
  if (t.method === 'population') {
    for (const depth of t.depths) requireMemory('population', String(t.population), populationBytes(t.sizes, depth, t.population, !t.annealed && profileFits(t, depth), t.annealed), why);
  }
  if (threshold) requireMemory('population', String(t.population), populationBytes(t.sizes, t.thresholdDepth, t.population, false, t.annealed), why);
}

/** The table's rows: the theory grid (src/theory/grid.ts) of the settings. */
function theoryRows(t: TheorySettings): TheoryRow[] {
  const { processName: process, method, sizes, schedule, population, seed } = t;
  const theory: GridTheory =
    method === 'mean-field'
      ? { method, sizes, process, schedule }
      : t.annealed
        ? { method: 'annealed', sizes, process, schedule, population, seed }
        : {
            method,
            grammarsAt: (depth) => (t.saved ? [t.saved] : t.grammarSeeds.map((gs) => deepGrammar(sizes, depth, gs, t.rng))),
            process,
            schedule,
            population,
            seed,
            // The level profile keeps every level's population: skip it when it would not fit.
            levels: (depth) => profileFits(t, depth),
          };
  const applies = theoryApplies(method, process);
  return theoryGrid(theory, t.depths, t.noises).map(({ depth, noise, ...prediction }) => ({ depth, process, noise, method, applies, ...prediction }));
}

function runTheory(o: TheoryOptionValues, self: Command, argv: readonly string[]): void {
  const t = theorySettings(o, self);
  refuseExistingFiles([['out', o.out]], o.overwrite);
  checkTheoryMemory(t, o.threshold ?? false);
  const { processName, sizes, schedule } = t;
  const critical = criticalPoint(sizes);
  const criticalNoise = meanFieldCriticalNoise(sizes, processName, schedule);
  const rows = theoryRows(t);
  const threshold: ThresholdResult | null = o.threshold
    ? populationThreshold(sizes, { process: processName, depth: t.thresholdDepth, grammarSeeds: t.grammarSeeds, rng: t.rng, population: t.population, seed: t.seed, schedule, annealed: t.annealed })
    : null;
  printTheory(o, t, critical, criticalNoise, rows, threshold);
  if (o.out !== undefined) {
    writeFileAtomic(o.out, toJsonText(theoryJson(argv, t, critical, criticalNoise, rows, threshold)));
    process.stderr.write(`wrote ${o.out}\n`);
  }
}

function printTheory(o: TheoryOptionValues, t: TheorySettings, critical: CriticalPoint, criticalNoise: number | null, rows: TheoryRow[], threshold: ThresholdResult | null): void {
  const { processName, sizes, method, annealed, grammarSeeds } = t;
  const units = processName === 'gaussian' ? 't/T' : 'eps';
  const meanFieldApplies = theoryApplies('mean-field', processName);
  // Every threshold printed names its process and method, and says when the method does not apply.
  const notForProcess = `does not apply to ${processName} noise (the map holds only for the eps-process, whose soft evidence it averages${o.threshold ? '' : `; --threshold gives ${processName}'s by population dynamics`})`;
  const lines = [
    `mean field (docs/science.md §5): v=${sizes.vocab} m=${sizes.synonyms} s=${sizes.tuple} n_c=${sizes.classes}; fixed points ${critical.fixedPoints.map((x) => x.toPrecision(6)).join(', ')}`,
    ...(critical.transitionExists
      ? [
          `  transition: p* = ${critical.pStar!.toPrecision(6)}, eps* = ${critical.criticalNoise!.toPrecision(6)}, lambda = ${critical.lambda!.toPrecision(6)}, nu = ${critical.nu!.toPrecision(4)}`,
          `  ${processName} critical ${units} (mean field) = ${fixed(criticalNoise, 4)}${meanFieldApplies ? '' : `: ${notForProcess}`}`,
        ]
      : [`  no transition (s*m(v-1)/(v^s-1) >= 1 or no unstable fixed point)`]),
  ];
  if (method === 'population' || threshold) {
    const source = annealed
      ? 'annealed rules'
      : t.saved
        ? `grammar ${o.grammar}`
        : grammarSeeds.length > 1
          ? `grammar seeds ${grammarSeeds[0]}..${grammarSeeds[grammarSeeds.length - 1]}`
          : `grammar seed ${grammarSeeds[0]}`;
    lines.push(
      `population dynamics of the BP messages: N = ${t.population} per level and symbol, ${source}${method === 'population' && o.method === undefined ? `; the default method for ${processName}` : ''}`,
    );
  }
  if (threshold) {
    lines.push(
      `  ${processName} critical ${units} (population dynamics${annealed ? ', annealed' : ''}, L=${threshold.depth}) = ${threshold.mean.toFixed(4)}${threshold.perGrammar.length > 1 ? ` ± ${threshold.sd.toFixed(4)} (SD over ${threshold.perGrammar.length} grammars)` : ''}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const sdColumn = rows.some((r) => r.classKeptGrammarSD !== undefined && t.grammarCount > 1);
  process.stdout.write(
    formatTable(
      ['L', 'process', units, 'method', 'P0', ...(sdColumn ? ['SD(grammars)'] : []), 'P_l (root..leaves)'],
      rows.map((r) => [
        r.depth,
        r.process,
        r.noise,
        r.method + (annealed && method === 'population' ? ' (annealed)' : '') + (r.applies ? '' : ' (n/a)'),
        fixed(r.classKept, 4),
        ...(r.classKeptGrammarSD !== undefined && t.grammarCount > 1 ? [significant(r.classKeptGrammarSD)] : []),
        (r.levelKept ?? r.upwardKept ?? []).length <= 12 ? (r.levelKept ?? r.upwardKept ?? []).map((x) => x.toFixed(2)).join(' ') : '(see JSON)',
      ]),
    ),
  );
  if (!theoryApplies(method, processName))
    process.stdout.write(`n/a: the mean-field map does not apply to ${processName} noise (it holds only for the eps-process); use --method population, the default for ${processName}\n`);
}

function theoryJson(argv: readonly string[], t: TheorySettings, critical: CriticalPoint, criticalNoise: number | null, rows: TheoryRow[], threshold: ThresholdResult | null): unknown {
  const { processName, method, loaded, population, seed, annealed, grammarSeeds, rng } = t;
  const parameters = {
    ...t.sizes,
    process: processName,
    method,
    depths: t.depths,
    noiseLevels: t.noises,
    schedule: t.schedule.name,
    ...(method === 'population'
      ? loaded
        ? { population, seed: loaded.origin.seed, grammarSeeds: null, rng: loaded.origin.rng, annealed, grammarFile: loaded.origin.path, grammarSha256: loaded.origin.sha256, dataSeed: seed }
        : { population, seed, grammarSeeds: annealed ? null : grammarSeeds, rng, annealed, grammarFile: null }
      : {}),
  };
  return {
    run: runInfo(argv),
    parameters,
    transitionExists: critical.transitionExists,
    fixedPoints: critical.fixedPoints,
    pStar: critical.pStar,
    /** Mean-field critical noise of this process, in its noise units (ε, or t/T for gaussian). */
    criticalNoise,
    criticalNoiseMethod: 'mean-field',
    /** False for mask, uniform and gaussian: the mean-field map does not predict their threshold. */
    criticalNoiseApplies: theoryApplies('mean-field', processName),
    /** Mean-field ε* of the ε-process (= criticalNoise for eps and mask). */
    criticalEps: critical.criticalNoise,
    lambda: critical.lambda,
    nu: critical.nu,
    threshold: threshold ? { ...threshold, method: 'population', applies: theoryApplies('population', processName) } : null,
    rows,
  };
}
