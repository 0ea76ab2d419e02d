import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import { OPTIONS } from '../../core/options.ts';
import type { Grammar } from '../../grammar/grammar.ts';
import { pMax } from '../../grammar/count.ts';
import { leafCount } from '../../grammar/params.ts';
import { resolveRuleRng, sampleRules } from '../../grammar/sampleRules.ts';
import { grammarToJson, readGrammarFile } from '../../grammar/serialize.ts';
import { LEARN_PROCESSES, type BpUnetConfig, type LearnProcess } from '../../learn/bpUnet.ts';
import { trainingDataset, type DataSampler } from '../../learn/data.ts';
import { bpUnetToOnnx } from '../../learn/onnxExport.ts';
import { classKeptGaps, layerCrossings, STUDY_NOISE_LEVELS, studyTimes } from '../../learn/study.ts';
import { convergence, DEFAULT_DECAY, DEFAULT_LR, DEFAULT_WARMUP, LR_DECAYS, lossOn, train, type Convergence, type LrDecay } from '../../learn/bpUnetTrain.ts';
import { defaultThreads } from '../../nn/session.ts';
import { checkAgainstGrammar, explicitOption, type GrammarOptionValues } from '../grammarOptions.ts';
import { formatRate, startProgress, startTrainingProgress } from '../progress.ts';
import { evaluateModel, type ModelEvaluation } from '../../learn/evaluateModel.ts';
import { learnedClassKeptFigure, learnedLevelKeptFigure, testLossFigure, validityVsDataFigure, type StudyPoint } from '../../report/figures/learning.ts';
import { reportHtml, type PageFigure } from '../../report/html.ts';
import { renderSvg, svgToPng } from '../../report/render.ts';
import { OnnxRhmDenoiser } from '../../learn/onnxDenoiser.ts';
import { discreteSchedule, type DiscreteSchedule } from '../../learn/schedule.ts';
import { DEVICES } from '../../nn/session.ts';
import { checkReportFolder, readJsonFile, refuseExisting, refuseExistingFiles, reportEntries, toJsonText, writeFileAtomic } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { writeReportFolder } from '../../core/outputDir.ts';
import { addOption, kebab, parseInteger, parseIntegerList, parseNumber, parseOption } from '../parse.ts';
import { runInfo, type RunInfo } from '../runInfo.ts';
import { packageVersion } from '../../core/packageVersion.ts';

/** Format tag of the data file `hierdiff train` writes beside its model. */
export const TRAIN_DATA_FORMAT = 'hierdiff.train-data/1';

/** The training/test sets of a run, as written to DIR/data.json. */
export interface TrainDataFile {
  format: typeof TRAIN_DATA_FORMAT;
  /** Seed of the sampler (docs/science.md §7). */
  dataSeed: number;
  /**
   * Which generator drew the data: `python`, CPython's random.sample over range(P_max) as the
   * published code does (P_max < 2^53); `own`, this library's (P_max ≥ 2^53, learn/data.ts ownDataset).
   * Absent in files written before it was recorded (always `python` then).
   */
  sampler: DataSampler;
  /** Published-indexing indices: numbers (python), decimal strings (own: beyond 2^53). */
  trainIndices: number[] | string[];
  testIndices: number[] | string[];
  /** Token rows. */
  train: number[][];
  test: number[][];
}

/** Reads a data file's training tokens (N×d), checked against the grammar. */
export function readTrainTokens(path: string, g: Grammar): Int32Array {
  const f = readJsonFile('train-data', path) as Partial<TrainDataFile>;
  const d = leafCount(g);
  if (f?.format !== TRAIN_DATA_FORMAT || !Array.isArray(f.train)) throw new ParamError('train-data', `invalid --train-data "${path}" (not a ${TRAIN_DATA_FORMAT} file from hierdiff train)`);
  const out = new Int32Array(f.train.length * d);
  f.train.forEach((row, n) => {
    if (!Array.isArray(row) || row.length !== d || row.some((x) => !Number.isInteger(x) || x < 0 || x >= g.vocab)) {
      throw new ParamError('train-data', `invalid --train-data "${path}" (row ${n} is not ${d} tokens of 0 … ${g.vocab - 1})`);
    }
    out.set(row, n * d);
  });
  return out;
}

/** The schedule options shared by the learning commands (the published defaults). */
export function addScheduleOptions(cmd: Command): Command {
  return cmd
    .option('--diffusion-steps <T>', 'steps T of the discrete schedule', '200')
    .option('--beta-start <b1>', 'β at u = 0 of β_u = β₁ + (β₂ − β₁)·u/T', '0.001')
    .option('--beta-end <b2>', 'β at u = T', '0.1');
}

export function scheduleFromOptions(o: { diffusionSteps: string; betaStart: string; betaEnd: string }): DiscreteSchedule {
  return discreteSchedule({
    steps: parseInteger('diffusion-steps', o.diffusionSteps, 1, 100000),
    betaStart: parseNumber('beta-start', o.betaStart, 0, 1),
    betaEnd: parseNumber('beta-end', o.betaEnd, 0, 1),
  });
}

interface EvaluateOptionValues {
  model: string;
  grammar: string;
  process?: string;
  diffusionSteps: string;
  betaStart: string;
  betaEnd: string;
  samples: string;
  trainData?: string;
  forwardBackward?: boolean;
  times?: string;
  fbSamples: string;
  seed: string;
  batch: string;
  device: string;
  out: string;
  overwrite?: boolean;
}

/** `hierdiff evaluate`: a learned RHM denoiser (ONNX) measured against its grammar and exact BP. */
export function registerEvaluate(program: Command, argv: readonly string[]): void {
  addScheduleOptions(
    program
      .command('evaluate')
      .description('sample from a learned RHM denoiser (ONNX: inputs x one-hot N×v×d and t = t/T) and measure validity per layer, copies, rule use; with --forward-backward, class/level kept beside exact BP (docs/learning.md)')
      .requiredOption('--model <file>', 'the model (ONNX), e.g. DIR/model.onnx from hierdiff train, or a torch.onnx.export of the published code')
      .requiredOption('--grammar <file>', 'the grammar (JSON from hierdiff grammar --out or hierdiff train)')
      .option('--process <name>', 'the model\'s noise process: uniform or mask (default: from the model\'s metadata, else uniform)'),
  )
    .option('--samples <n>', 'samples drawn from the model', '1000')
    .option('--train-data <file>', 'DIR/data.json of hierdiff train: report the fraction of samples that copy a training datum')
    .option('--forward-backward', 'also run the forward–backward experiment, the model beside exact BP on the same noisy data')
    .option('--times <list>', 'times t (1 … T) of the forward–backward experiment (default: 10 evenly spread)')
    .option('--fb-samples <n>', 'data per time of the forward–backward experiment', '500')
    .option('--seed <n>', 'seed of the sampling', '0')
    .option('--batch <n>', 'samples per model call', '256')
    .option('--device <name>', `execution provider: ${DEVICES.join(' or ')}`, 'cpu')
    .requiredOption('--out <file>', 'evaluation (JSON)')
    .option('--overwrite', 'replace --out if it exists')
    .action(async (o: EvaluateOptionValues, self: Command) => {
      const fbOnly = ['times', 'fbSamples'].find((name) => explicitOption(self, name));
      if (!o.forwardBackward && fbOnly) throw new ParamError(kebab(fbOnly), `invalid --${kebab(fbOnly)} without --forward-backward (it sets the forward–backward experiment)`);
      const g = readGrammarFile(o.grammar);
      const schedule = scheduleFromOptions(o);
      const samples = parseInteger('samples', o.samples, 1, 1e7);
      const seed = parseInteger('seed', o.seed, 0);
      const batch = parseInteger('batch', o.batch, 1, 1e6);
      const noiseProcess: LearnProcess | undefined = o.process === undefined ? undefined : resolveVariant('process', o.process, LEARN_PROCESSES);
      const train = o.trainData === undefined ? undefined : readTrainTokens(o.trainData, g);
      const T = schedule.steps;
      const times = o.times === undefined ? [...new Set(Array.from({ length: 10 }, (_, i) => Math.max(1, Math.round(((i + 1) * T) / 10))))] : parseIntegerList('times', o.times, 1, T);
      const fbSamples = parseInteger('fb-samples', o.fbSamples, 1, 1e6);
      refuseExistingFiles([['out', o.out]], o.overwrite);
      const model = await OnnxRhmDenoiser.open(o.model, { batchSize: batch, device: resolveVariant('device', o.device, DEVICES), process: noiseProcess, vocab: g.vocab, length: leafCount(g) });
      try {
        const started = Date.now();
        let bar: ReturnType<typeof startProgress> | null = null;
        let result: ModelEvaluation;
        try {
          result = await evaluateModel(model, g, schedule, {
            samples,
            seed,
            batch,
            train,
            forwardBackward: o.forwardBackward ? { times, samples: fbSamples } : undefined,
            onProgress: (p) => {
              bar ??= startProgress('evaluate', p.total, 'denoising steps');
              bar.update(p.done);
            },
          });
        } finally {
          (bar as ReturnType<typeof startProgress> | null)?.stop();
        }
        writeFileAtomic(o.out, toJsonText({ run: runInfo(argv), model: o.model, grammar: o.grammar, process: model.process, schedule: { steps: T, betaStart: Number(o.betaStart), betaEnd: Number(o.betaEnd) }, ...result }));
        process.stderr.write(`evaluate: ${samples} samples in ${((Date.now() - started) / 1000).toFixed(1)}s; ${validByLayerText(result.validByLayer)}; fully valid ${result.fullyValid.toFixed(3)}${result.copies === null ? '' : `; copies ${result.copies.toFixed(3)}`} -> ${o.out}\n`);
        if (result.forwardBackward) {
          process.stdout.write('    t    t/T  noise  class kept (model)  class kept (BP)  tokens kept (model)  tokens kept (BP)\n');
          for (const r of result.forwardBackward) {
            const L = r.model.levelKept.length - 1;
            process.stdout.write(`${String(r.t).padStart(5)}  ${r.tOverT.toFixed(3)}  ${r.noise.toFixed(3)}  ${r.model.classKept.toFixed(3).padStart(18)}  ${r.bp.classKept.toFixed(3).padStart(15)}  ${r.model.levelKept[L].toFixed(3).padStart(19)}  ${r.bp.levelKept[L].toFixed(3).padStart(16)}\n`);
          }
        }
      } finally {
        await model.release();
      }
    });
}

interface TrainOptionValues extends GrammarOptionValues {
  trainSize: string;
  testSize: string;
  dataSeed: string;
  width: string;
  steps: string;
  batch: string;
  lr: string;
  warmup: string;
  lrDecay: string;
  process: string;
  modelSeed: string;
  diffusionSteps: string;
  betaStart: string;
  betaEnd: string;
  checkpointEvery: string;
  testEvery: string;
  resume?: boolean;
  overwrite?: boolean;
  threads?: string;
  out: string;
}

/** What `hierdiff train` records in DIR/train.json. */
export interface TrainLog {
  format: 'hierdiff.train-log/1';
  run: RunInfo;
  config: BpUnetConfig;
  grammar: string;
  /** `sampler`: which generator drew the data (TrainDataFile.sampler); absent in older logs (python). */
  train: { size: number; testSize: number; dataSeed: number; sampler: DataSampler; steps: number; batch: number; lr: number; warmup: number; lrDecay: LrDecay; threads: number; modelSeed: number; schedule: { steps: number; betaStart: number; betaEnd: number } };
  /** Wall seconds of this call's training, set-up and saving included (a resumed call counts only its own steps). */
  seconds: number;
  /** The training loop's rate: this call's steps over the seconds since its first step began (set-up excluded), as on the progress bar and the summary line. */
  stepsPerSecond: number;
  resumedFrom: number;
  /** Training loss averaged over blocks of `lossEvery` steps. */
  lossEvery: number;
  losses: number[];
  /** Loss per time window on the training and test sets (docs/science.md §7 loss). */
  windows: { from: number; to: number; train: number; test: number | null }[];
  /** The test loss over all times, measured every `--test-every` steps and after the last (empty without test data). */
  testLoss: { step: number; value: number }[];
  /** The convergence criterion read from `testLoss` (null without at least two measurements). */
  convergence: Convergence | null;
}

/**
 * `validByLayer` (layer 1 = the lowest rules … L = the root) printed root → leaves like every other
 * table, each value labelled: "valid by layer (root..leaves): layer 3 0.000, layer 2 0.060, layer 1 0.405".
 */
export function validByLayerText(validByLayer: readonly number[]): string {
  const layers = validByLayer.map((x, i) => `layer ${i + 1} ${x.toFixed(3)}`).reverse();
  return `valid by layer (root..leaves): ${layers.join(', ')}`;
}

/** Block means of a loss curve (at most ~200 points). */
function thinLosses(losses: readonly number[]): { every: number; values: number[] } {
  const every = Math.max(1, Math.ceil(losses.length / 200));
  const values: number[] = [];
  for (let i = 0; i < losses.length; i += every) {
    const block = losses.slice(i, i + every);
    values.push(block.reduce((a, b) => a + b, 0) / block.length);
  }
  return { every, values };
}

/** The options of `hierdiff train` (and of `hierdiff learn-study`, which trains at several sizes). */
function addTrainOptions(cmd: Command): Command {
  // The grammar options of the table, with the published example's defaults.
  addOption(cmd, OPTIONS.vocab, { default: '8' });
  addOption(cmd, OPTIONS.classes);
  addOption(cmd, OPTIONS.synonyms, { default: '3' });
  addOption(cmd, OPTIONS.tuple);
  addOption(cmd, OPTIONS.depth, { help: 'depth L', default: '3' });
  addOption(cmd, OPTIONS.seed, { help: 'seed of the grammar', default: '42' });
  addOption(cmd, OPTIONS.rng, { help: "rule generator (python: the published code's grammar)", default: 'python' });
  addOption(cmd, OPTIONS.grammar);
  return addScheduleOptions(
    cmd
      .option('--train-size <P>', 'training data, drawn as the published code does (CPython random.sample; where P_max >= 2^53 makes that not reproducible, with our own generator: "sampler" in train.json says which)', '1024')
      .option('--test-size <n>', 'test data (at most P_max − P)', '1024')
      .option('--data-seed <n>', 'seed of CPython\'s random.sample over range(P_max) (of our own generator where P_max >= 2^53)', '0')
      .option('--width <W>', 'channels of the U-Net (published: 1024)', '256')
      .option('--steps <n>', 'optimisation steps', '2000')
      .option('--batch <n>', 'batch size', '64')
      .option('--lr <x>', 'Adam learning rate after the warm-up; with the defaults, 2 000 steps give samples valid 0.98 / 0.77 / 0.33 by layer (random tokens: 0.375 / 0.053 / 0.001), while the published 1e-4 barely moves this model (docs/learning.md)', String(DEFAULT_LR))
      .option('--warmup <n>', 'steps of linear learning-rate warm-up (0: none)', String(DEFAULT_WARMUP))
      .option('--lr-decay <name>', `after the warm-up: cosine (down to 0 at the last step; --resume then needs the same --steps) or none`, DEFAULT_DECAY)
      .option('--process <name>', 'uniform (D3PM) or mask (absorbing)', 'uniform')
      .option('--model-seed <n>', 'seed of the initialisation, batches and noise', '2')
      .option('--checkpoint-every <n>', 'steps between checkpoints', '500')
      .option('--test-every <n>', 'steps between measurements of the test loss (the convergence criterion reads them)', '500'),
  )
    .option('--resume', 'continue from the checkpoint in the output folder (same settings)')
    .option('--overwrite', 'start afresh in an output folder that holds a run (its checkpoint and model are replaced)')
    .option('--threads <n>', `CPU threads of onnxruntime (default: all cores, here ${defaultThreads()}); a run is bit-identical at a given count`);
}

/**
 * The grammar the training options name: a saved one (size options given on the command line must
 * agree with it), or drawn (default: the published example).
 */
function trainGrammar(o: TrainOptionValues, explicit: (name: string) => boolean): Grammar {
  if (o.grammar !== undefined) {
    const g = readGrammarFile(o.grammar);
    checkAgainstGrammar(g, o.grammar, o, explicit);
    return g;
  }
  // The model bounds the vocabulary and the depth below the table's ranges.
  const sizes = {
    vocab: parseInteger('vocab', o.vocab, OPTIONS.vocab.min, 4096),
    classes: o.classes === undefined ? undefined : parseOption(OPTIONS.classes, o.classes),
    synonyms: parseOption(OPTIONS.synonyms, o.synonyms),
    tuple: parseOption(OPTIONS.tuple, o.tuple),
    depth: parseInteger('depth', o.depth, OPTIONS.depth.min, 20),
  };
  return sampleRules(sizes, parseOption(OPTIONS.seed, o.seed), resolveRuleRng(o.rng));
}

/** One training run into `o.out`: grammar.json, data.json, checkpoints, model.onnx and train.json (returned). */
async function runTraining(o: TrainOptionValues, argv: readonly string[], explicit: (name: string) => boolean, label = 'train'): Promise<TrainLog> {
  const g = trainGrammar(o, explicit);
  const schedule = scheduleFromOptions(o);
  const size = parseInteger('train-size', o.trainSize, 1, 1e8);
  const total = pMax(g);
  if (BigInt(size) > total) throw new ParamError('train-size', `invalid --train-size ${size} (the grammar has only P_max = ${total} data)`);
  const testSize = Math.min(parseInteger('test-size', o.testSize, 0, 1e8), Number(total - BigInt(size)));
  const dataSeed = parseInteger('data-seed', o.dataSeed, 0);
  const config: BpUnetConfig = { vocab: g.vocab, tuple: g.tuple, depth: g.depth, width: parseInteger('width', o.width, 1, 8192), process: resolveVariant('process', o.process, LEARN_PROCESSES) };
  const steps = parseInteger('steps', o.steps, 1, 1e9);
  const batch = parseInteger('batch', o.batch, 1, 1 << 20);
  const lr = parseNumber('lr', o.lr, 0, 10);
  const warmup = parseInteger('warmup', o.warmup, 0, 1e9);
  const lrDecay: LrDecay = resolveVariant('lr-decay', o.lrDecay, LR_DECAYS);
  const threads = o.threads === undefined ? defaultThreads() : parseInteger('threads', o.threads, 1, 1024);
  const modelSeed = parseInteger('model-seed', o.modelSeed, 0);
  const checkpointEvery = parseInteger('checkpoint-every', o.checkpointEvery, 1, 1e9);
  const testEvery = parseInteger('test-every', o.testEvery, 1, 1e9);
  const data = trainingDataset(g, dataSeed, size, testSize);
  if (data.sampler === 'own') process.stderr.write(`${label}: P_max = ${total} is at least 2^53, where the published sampling (CPython's random.sample) is not reproducible: the data are drawn with our own generator (sampler "own" in train.json and data.json)\n`);
  const d = leafCount(g);
  const rows = (tokens: Int32Array) => Array.from({ length: tokens.length / d }, (_, n) => Array.from(tokens.subarray(n * d, (n + 1) * d)));
  writeFileAtomic(join(o.out, 'grammar.json'), toJsonText(grammarToJson(g, o.grammar === undefined ? { seed: Number(o.seed), rng: o.rng } : undefined)));
  const dataFile: TrainDataFile = { format: TRAIN_DATA_FORMAT, dataSeed, sampler: data.sampler, trainIndices: data.trainIndices, testIndices: data.testIndices, train: rows(data.train), test: rows(data.test) };
  writeFileAtomic(join(o.out, 'data.json'), `${JSON.stringify(dataFile)}\n`);
  const bar = startTrainingProgress(label, steps);
  const started = Date.now();
  let rate = 0;
  const result = await train({
    config,
    data: data.train,
    steps,
    batch,
    lr,
    warmup,
    decay: lrDecay,
    seed: modelSeed,
    schedule,
    checkpointDir: o.out,
    checkpointEvery,
    resume: o.resume ?? false,
    threads,
    ...(data.test.length ? { test: { data: data.test, every: testEvery } } : {}),
    onProgress: (p) => {
      rate = p.stepsPerSecond;
      bar.tick(p);
    },
  });
  bar.stop();
  const seconds = (Date.now() - started) / 1000;
  writeFileAtomic(join(o.out, 'model.onnx'), bpUnetToOnnx(result.params, config));
  const windows = await lossOn(result.params, config, data.train, schedule, { seed: 1, threads });
  const testWindows = data.test.length ? await lossOn(result.params, config, data.test, schedule, { seed: 1, threads }) : null;
  const thin = thinLosses(result.losses);
  const log: TrainLog = {
    format: 'hierdiff.train-log/1',
    run: runInfo(argv),
    config,
    grammar: 'grammar.json',
    train: { size, testSize, dataSeed, sampler: data.sampler, steps, batch, lr, warmup, lrDecay, threads, modelSeed, schedule: { steps: schedule.steps, betaStart: schedule.betaStart, betaEnd: schedule.betaEnd } },
    seconds,
    stepsPerSecond: rate,
    resumedFrom: result.resumedFrom,
    lossEvery: thin.every,
    losses: thin.values,
    windows: windows.map((w, i) => ({ from: w.from, to: w.to, train: w.loss, test: testWindows ? testWindows[i].loss : null })),
    testLoss: result.testLoss,
    convergence: convergence(result.testLoss, steps),
  };
  writeFileAtomic(join(o.out, 'train.json'), toJsonText(log));
  if (log.convergence) {
    const c = log.convergence;
    process.stderr.write(`${label}: test loss ${c.at80.toPrecision(4)} -> ${c.atEnd.toPrecision(4)} over the last 20 % of the steps: ${c.converged ? 'converged' : 'still falling (not converged)'}\n`);
  }
  // The rate is the training loop's, as on the bar (steps over the seconds since the first step
  // began); the rest of the wall time is set-up (graph, session) and saving.
  const ran = steps - result.resumedFrom;
  const loopSeconds = rate > 0 ? ran / rate : 0;
  const timing = rate > 0 ? ` (${loopSeconds.toFixed(1)}s of steps at ${formatRate(rate)} steps/s + ${Math.max(0, seconds - loopSeconds).toFixed(1)}s set-up and saving)` : '';
  process.stderr.write(`${label}: ${ran} steps in ${seconds.toFixed(1)}s${timing}, final loss ${thin.values[thin.values.length - 1].toFixed(4)} -> ${join(o.out, 'model.onnx')}\n`);
  return log;
}

/** What `hierdiff train` writes into its folder (the checkpoint: nn/checkpoint.ts). */
const TRAIN_OUTPUTS = ['model.onnx', 'train.json', 'checkpoint.json', 'checkpoint.bin', 'grammar.json', 'data.json'];

/** `hierdiff train`: the companion U-Net trained on RHM data on onnxruntime (src/nn/), exported to ONNX. */
export function registerTrain(program: Command, argv: readonly string[]): void {
  addTrainOptions(
    program
      .command('train')
      .description('train the companion hierarchical U-Net (docs/science.md §7) on P data of an RHM grammar; writes DIR/model.onnx, checkpoints, grammar, data and a log (docs/learning.md)'),
  )
    .requiredOption('--out <dir>', 'output folder')
    .action(async (o: TrainOptionValues, self: Command) => {
      // A finished or interrupted run is never thrown away silently: continue it, or say --overwrite.
      refuseExisting('out', o.out, TRAIN_OUTPUTS.map((name) => join(o.out, name)), { resume: o.resume, overwrite: o.overwrite, resumable: true });
      const unhook = explainInterrupt('train', resumeHint(`from the last checkpoint in ${o.out}, written every --checkpoint-every steps`));
      try {
        await runTraining(o, argv, (name) => explicitOption(self, name));
      } finally {
        unhook();
      }
    });
}

interface StudyOptionValues extends TrainOptionValues {
  trainSizes: string;
  samples: string;
  fbSamples: string;
  times?: string;
  evalBatch: string;
}

/** Validity of uniformly random tokens per layer: a subtree of height h is valid with the product of its nodes' valid-tuple fractions N_ℓ·m/v^s. */
export function randomTokenValidity(g: Grammar): number[] {
  const frac = (level: number) => ((level === 0 ? g.classes : g.vocab) * g.synonyms) / g.vocab ** g.tuple;
  return Array.from({ length: g.depth }, (_, i) => {
    const h = i + 1;
    let p = 1;
    // Levels L−h … L−1 hold the subtree's internal nodes: s^k of them at depth k below its root.
    for (let k = 0; k < h; k++) p *= frac(g.depth - h + k) ** (g.tuple ** k);
    return p;
  });
}

/** The validity a layer must reach for the study to call it learned. */
const VALIDITY_THRESHOLD = 0.9;

/** `hierdiff learn-study`: train at several training-set sizes P, evaluate each, draw the figures. */
export function registerLearnStudy(program: Command, argv: readonly string[]): void {
  addTrainOptions(
    program
      .command('learn-study')
      .description('train the companion U-Net at several training-set sizes P, evaluate each (validity per layer, forward–backward beside exact BP), and draw the figures (docs/learning.md); resumable: finished sizes are kept'),
  )
    .requiredOption('--train-sizes <list>', 'training-set sizes P, e.g. 128,512,2048,8192')
    .option('--samples <n>', 'samples per model for the validity', '1000')
    .option('--fb-samples <n>', 'data per time of the forward–backward comparison', '300')
    .option('--times <list>', `times t of the forward–backward comparison (default: the t whose noise 1 − ᾱ_t is nearest each of ${STUDY_NOISE_LEVELS.join(', ')})`)
    .option('--eval-batch <n>', 'samples per model call in the evaluation', '256')
    .requiredOption('--out <dir>', 'output folder: one subfolder per P, study.json, figures/, report.html')
    .action(async (o: StudyOptionValues, self: Command) => {
      const explicit = (name: string) => explicitOption(self, name);
      const sizes = parseIntegerList('train-sizes', o.trainSizes, 1, 1e8).sort((a, b) => a - b);
      // The report comes after hours of training: refuse a folder it could not be written into now.
      checkReportFolder('out', o.out);
      const g = trainGrammar(o, explicit);
      const schedule = scheduleFromOptions(o);
      const samples = parseInteger('samples', o.samples, 1, 1e7);
      const fbSamples = parseInteger('fb-samples', o.fbSamples, 1, 1e6);
      const batch = parseInteger('eval-batch', o.evalBatch, 1, 1e6);
      // Checked before hours of training, not at the first size.
      if (o.threads !== undefined) parseInteger('threads', o.threads, 1, 1024);
      parseNumber('lr', o.lr, 0, 10);
      parseInteger('warmup', o.warmup, 0, 1e9);
      resolveVariant('lr-decay', o.lrDecay, LR_DECAYS);
      const T = schedule.steps;
      const times = o.times === undefined ? studyTimes(schedule) : parseIntegerList('times', o.times, 1, T);
      for (const P of sizes) if (BigInt(P) > pMax(g)) throw new ParamError('train-sizes', `invalid --train-sizes: ${P} > P_max = ${pMax(g)}`);
      // Finished sizes are kept with --resume, retrained with --overwrite, and never replaced silently.
      refuseExisting('out', o.out, [join(o.out, 'study.json'), ...reportEntries(o.out), ...sizes.map((P) => join(o.out, `P${P}`))], { resume: o.resume, overwrite: o.overwrite, resumable: true });
      const points: (StudyPoint & { seconds: number; windows: TrainLog['windows']; copies: number | null; testLoss: TrainLog['testLoss']; convergence: Convergence | null })[] = [];
      const unhook = explainInterrupt('learn-study', resumeHint(`finished sizes and the last checkpoint are saved in ${o.out}`));
      try {
        for (const P of sizes) {
          const dir = join(o.out, `P${P}`);
          const evalPath = join(dir, 'evaluation.json');
          let log: TrainLog;
          const logPath = join(dir, 'train.json');
          const done = !o.overwrite && existsSync(logPath) && existsSync(join(dir, 'model.onnx')) && (JSON.parse(readFileSync(logPath, 'utf8')) as TrainLog).train.steps === Number(o.steps);
          if (done) log = JSON.parse(readFileSync(logPath, 'utf8')) as TrainLog;
          else log = await runTraining({ ...o, trainSize: String(P), out: dir, resume: !o.overwrite }, argv, explicit, `train P=${P}`);
          let evaluation: ModelEvaluation;
          if (done && existsSync(evalPath)) evaluation = JSON.parse(readFileSync(evalPath, 'utf8')) as ModelEvaluation;
          else {
            const model = await OnnxRhmDenoiser.open(join(dir, 'model.onnx'), { batchSize: batch, vocab: g.vocab, length: leafCount(g) });
            try {
              const started = Date.now();
              evaluation = await evaluateModel(model, g, schedule, { samples, seed: 0, batch, train: readTrainTokens(join(dir, 'data.json'), g), forwardBackward: { times, samples: fbSamples } });
              process.stderr.write(`evaluate P=${P}: ${validByLayerText(evaluation.validByLayer)}, copies ${evaluation.copies?.toFixed(3)} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
            } finally {
              await model.release();
            }
            writeFileAtomic(evalPath, toJsonText(evaluation));
          }
          // Runs logged before the held-out curve existed have none.
          const testLoss = log.testLoss ?? [];
          points.push({ trainSize: P, validByLayer: evaluation.validByLayer, fullyValid: evaluation.fullyValid, forwardBackward: evaluation.forwardBackward, seconds: log.seconds, windows: log.windows, copies: evaluation.copies, testLoss, convergence: log.convergence ?? convergence(testLoss, log.train.steps) });
        }
      } finally {
        unhook();
      }
      const baseline = randomTokenValidity(g);
      const crossings = layerCrossings(points, VALIDITY_THRESHOLD);
      const gaps = classKeptGaps(points);
      const summary = { validityThreshold: VALIDITY_THRESHOLD, crossings, classKeptGaps: gaps, convergenceRule: points.find((p) => p.convergence)?.convergence?.rule ?? null };
      writeFileAtomic(join(o.out, 'study.json'), toJsonText({ format: 'hierdiff.learn-study/1', run: runInfo(argv), grammar: { vocab: g.vocab, classes: g.classes, synonyms: g.synonyms, tuple: g.tuple, depth: g.depth }, randomTokenValidity: baseline, summary, points }));
      const written = await writeLearningReport(o.out, points, baseline, g, o);
      // Root first, as every other table (layer L = the root's rules … layer 1 = the lowest).
      process.stdout.write(`    P  ${Array.from({ length: g.depth }, (_, i) => `layer ${g.depth - i}`.padStart(8)).join('')}  fully valid  copies  train s  converged  max |class kept − BP|\n`);
      for (const p of points) {
        const gap = gaps.find((x) => x.trainSize === p.trainSize);
        const converged = p.convergence === null ? '—' : p.convergence.converged ? 'yes' : 'no';
        process.stdout.write(`${String(p.trainSize).padStart(5)}  ${[...p.validByLayer].reverse().map((x) => x.toFixed(3).padStart(8)).join('')}  ${p.fullyValid.toFixed(3).padStart(11)}  ${(p.copies ?? 0).toFixed(3).padStart(6)}  ${p.seconds.toFixed(0).padStart(7)}  ${converged.padStart(9)}  ${gap ? `${gap.maxGap.toFixed(3)} at noise ${gap.atNoise.toFixed(3)}` : '—'}\n`);
      }
      process.stdout.write(`validity ${VALIDITY_THRESHOLD} reached for good at P ≈ ${crossings.map((c) => `layer ${c.layer}: ${c.size === null ? (c.reached ? 'not for good' : 'never') : Math.round(c.size)}`).join(', ')}\n`);
      process.stderr.write(`learn-study: ${written.length} files -> ${join(o.out, 'report.html')}\n`);
    });
}

/** The largest training-set size with a forward–backward comparison, as a list of at most one. */
function largestWithForwardBackward(points: readonly ReportPoint[]): ReportPoint[] {
  const withFb = points.filter((p) => p.forwardBackward && p.forwardBackward.length > 0);
  return withFb.length ? [withFb.reduce((a, b) => (b.trainSize > a.trainSize ? b : a))] : [];
}

/** Figures (SVG + PNG) and report.html of a study. */
/** A study's point as the report draws it. */
type ReportPoint = StudyPoint & { testLoss: TrainLog['testLoss'] };

async function writeLearningReport(out: string, points: ReportPoint[], baseline: number[], g: Grammar, o: StudyOptionValues): Promise<string[]> {
  // Through a temporary folder that replaces the previous report's files as a set (core/outputDir.ts).
  return writeReportFolder(out, (stage) => writeLearningReportFiles(stage, points, baseline, g, o));
}

async function writeLearningReportFiles(out: string, points: ReportPoint[], baseline: number[], g: Grammar, o: StudyOptionValues): Promise<string[]> {
  const figures = [
    { name: 'validity-vs-data', title: 'Validity per layer vs training data', caption: 'Fraction of valid nodes per layer in samples of the trained model (layer 1 = the lowest rules, layer L = the root), against the number of training data P; dotted: uniformly random tokens.', spec: validityVsDataFigure(points, baseline) },
    { name: 'class-kept-trained-vs-bp', title: 'Class kept: trained models vs exact BP', caption: 'Forward–backward on the same data and the same noisy x_t: the trained model’s reverse chain (coloured by P) and one exact BP posterior sample (black), ±1 standard error.', spec: learnedClassKeptFigure(points, o.process) },
    ...(points.some((p) => p.testLoss.length > 0) ? [{ name: 'test-loss', title: 'Held-out loss during training', caption: 'The loss on the test data (all times, the same draws at every measurement) during training, per training-set size: the convergence criterion reads these curves.', spec: testLossFigure(points) }] : []),
    ...largestWithForwardBackward(points).map((p) => ({ name: 'level-kept-trained-vs-bp', title: `Level kept: the model trained on P = ${p.trainSize} vs exact BP`, caption: 'Forward–backward on the same data and noisy x_t: the fraction of each level’s nodes kept, the trained model (solid) beside one exact BP posterior sample (dashed).', spec: learnedLevelKeptFigure(p, o.process) })),
  ];
  const written: string[] = [];
  const page: PageFigure[] = [];
  for (const f of figures) {
    const svg = await renderSvg(f.spec);
    writeFileAtomic(join(out, 'figures', `${f.name}.svg`), svg);
    writeFileAtomic(join(out, 'figures', `${f.name}.png`), svgToPng(svg));
    written.push(join(out, 'figures', `${f.name}.svg`), join(out, 'figures', `${f.name}.png`));
    page.push({ name: f.name, title: f.title, caption: f.caption, svg, links: [`figures/${f.name}.png`, `figures/${f.name}.svg`] });
  }
  const html = reportHtml({
    title: 'hierdiff: what a trained denoiser learns of the hierarchy',
    about: 'on the Random Hierarchy Model, with the companion U-Net trained on P data as the denoiser, beside exact belief propagation',
    command: runInfo(process.argv).command,
    tool: `hierdiff ${packageVersion()}`,
    parameters: [
      ['grammar', `v = ${g.vocab}, n_c = ${g.classes}, m = ${g.synonyms}, s = ${g.tuple}, L = ${g.depth}`],
      ['model', `companion U-Net, width ${o.width}, process ${o.process}, ${o.steps} steps of batch ${o.batch}, Adam lr ${o.lr}, warm-up ${o.warmup} steps, decay ${o.lrDecay}`],
      ['training-set sizes P', points.map((p) => p.trainSize).join(', ')],
    ],
    theory: [],
    figures: page,
  });
  writeFileAtomic(join(out, 'report.html'), html);
  written.push(join(out, 'report.html'));
  return written;
}
