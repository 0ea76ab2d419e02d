import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import type { Grammar } from '../../grammar/grammar.ts';
import { pMax } from '../../grammar/count.ts';
import { leafCount } from '../../grammar/params.ts';
import { classKeptGaps, continueTo, layerCrossings, STUDY_NOISE_LEVELS, studyTimes } from '../../learn/study.ts';
import { convergence, LR_DECAYS, type Convergence } from '../../learn/bpUnetTrain.ts';
import { explicitOption } from '../grammarOptions.ts';
import { evaluateModel, type ModelEvaluation } from '../../learn/evaluateModel.ts';
import type { StudyPoint } from '../../report/figures/learning.ts';
import type { DiscreteSchedule } from '../../learn/schedule.ts';
import { OPTIONS } from '../../core/options.ts';
import { OnnxRhmDenoiser } from '../../learn/onnxDenoiser.ts';
import { checkReportFolder, refuseExisting, reportEntries, toJsonText, writeFileAtomic } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { addOption, addRenamedOptions, parseInteger, parseIntegerList, parseNumber } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { addTrainOptions, readTrainTokens, scheduleFromOptions, trainGrammar, validByLayerText, type TrainOptionValues } from '../learnOptions.ts';
import { runTraining, type TrainLog } from './train.ts';
import { writeLearningReport } from './learnReport.ts';

interface StudyOptionValues extends TrainOptionValues {
  trainSizes: string;
  samples: string;
  fbSamples: string;
  times?: string;
  batchSize: string;
  maxSteps?: string;
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
  const cmd = addTrainOptions(
    program
      .command('learn-study')
      .description(
        'train the companion U-Net at several training-set sizes P, evaluate each (validity per layer, forward–backward beside exact BP), and draw the figures (docs/learning.md); resumable: finished sizes are kept',
      ),
  )
    .requiredOption('--train-sizes <list>', 'training-set sizes P, e.g. 128,512,2048,8192')
    .option('--samples <n>', 'samples per model for the validity', '1000')
    .option(
      '--max-steps <n>',
      'train each size until it converges (the held-out criterion of docs/learning.md): a size not converged after --steps is continued to twice its steps, and so on, up to this many (default: --steps, no extension; needs --lr-decay none)',
    );
  addOption(cmd, OPTIONS.fbSamples, { help: 'data per time of the forward–backward comparison', default: '300' });
  addOption(cmd, OPTIONS.times, { help: `times t of the forward–backward comparison (default: the t whose noise 1 − ᾱ_t is nearest each of ${STUDY_NOISE_LEVELS.join(', ')})` });
  addOption(cmd, OPTIONS.batchSize, { help: 'samples per model call in the evaluation', default: '256' });
  // `--eval-batch` was this command's spelling of the evaluation batch (--batch is the training batch).
  addRenamedOptions(cmd, 'learn-study');
  cmd.requiredOption('--out <dir>', 'output folder: one subfolder per P, study.json, figures/, report.html').action((o: StudyOptionValues, self: Command) => runLearnStudy(o, self, argv));
}

/** A study's point: the trained model's evaluation and its training log. */
type StudyRow = StudyPoint & {
  steps: number;
  seconds: number;
  trainingSeconds: number | null;
  windows: TrainLog['windows'];
  copies: number | null;
  testLoss: TrainLog['testLoss'];
  convergence: Convergence | null;
};

/** What every size of a study is evaluated with. */
interface StudyEvaluation {
  g: Grammar;
  schedule: DiscreteSchedule;
  samples: number;
  fbSamples: number;
  batch: number;
  times: number[];
  /** Steps of a first run, and the most a size is continued to while not converged. */
  steps: number;
  maxSteps: number;
}

async function runLearnStudy(o: StudyOptionValues, self: Command, argv: readonly string[]): Promise<void> {
  const explicit = (name: string) => explicitOption(self, name);
  const sizes = parseIntegerList('train-sizes', o.trainSizes, 1, 1e8).sort((a, b) => a - b);
  // The report comes after hours of training: refuse a folder it could not be written into now.
  checkReportFolder('out', o.out);
  const g = trainGrammar(o, explicit);
  const schedule = scheduleFromOptions(o);
  const samples = parseInteger('samples', o.samples, 1, 1e7);
  const fbSamples = parseInteger('fb-samples', o.fbSamples, 1, 1e6);
  const batch = parseInteger('batch-size', o.batchSize, 1, 1e6);
  // Checked before hours of training, not at the first size.
  if (o.threads !== undefined) parseInteger('threads', o.threads, 1, 1024);
  parseNumber('lr', o.lr, 0, 10);
  parseInteger('warmup', o.warmup, 0, 1e9);
  resolveVariant('lr-decay', o.lrDecay, LR_DECAYS);
  const steps = parseInteger('steps', o.steps, 1, 1e9);
  const maxSteps = o.maxSteps === undefined ? steps : parseInteger('max-steps', o.maxSteps, steps, 1e9);
  if (maxSteps > steps && o.lrDecay !== 'none') throw new ParamError('max-steps', `invalid --max-steps: continuing a run needs --lr-decay none (a ${o.lrDecay} decay depends on the total steps)`);
  const T = schedule.steps;
  const times = o.times === undefined ? studyTimes(schedule) : parseIntegerList('times', o.times, 1, T);
  for (const P of sizes) if (BigInt(P) > pMax(g)) throw new ParamError('train-sizes', `invalid --train-sizes: ${P} > P_max = ${pMax(g)}`);
  // Finished sizes are kept with --resume, retrained with --overwrite, and never replaced silently.
  refuseExisting('out', o.out, [join(o.out, 'study.json'), ...reportEntries(o.out), ...sizes.map((P) => join(o.out, `P${P}`))], { resume: o.resume, overwrite: o.overwrite, resumable: true });
  const points: StudyRow[] = [];
  const unhook = explainInterrupt('learn-study', resumeHint(`finished sizes and the last checkpoint are saved in ${o.out}`));
  try {
    for (const P of sizes) points.push(await studyPoint(o, argv, explicit, P, { g, schedule, samples, fbSamples, batch, times, steps, maxSteps }));
  } finally {
    unhook();
  }
  const baseline = randomTokenValidity(g);
  const crossings = layerCrossings(points, VALIDITY_THRESHOLD);
  const gaps = classKeptGaps(points);
  const summary = { validityThreshold: VALIDITY_THRESHOLD, crossings, classKeptGaps: gaps, convergenceRule: points.find((p) => p.convergence)?.convergence?.rule ?? null };
  writeFileAtomic(
    join(o.out, 'study.json'),
    toJsonText({
      format: 'hierdiff.learn-study/1',
      run: runInfo(argv),
      grammar: { vocab: g.vocab, classes: g.classes, synonyms: g.synonyms, tuple: g.tuple, depth: g.depth },
      randomTokenValidity: baseline,
      summary,
      points,
    }),
  );
  const written = await writeLearningReport(o.out, points, baseline, g, o);
  printStudy(g, points, gaps, crossings);
  process.stderr.write(`learn-study: ${written.length} files -> ${join(o.out, 'report.html')}\n`);
}

/** A size's training log, if its folder holds a finished run. */
function finishedRun(dir: string): TrainLog | null {
  const logPath = join(dir, 'train.json');
  return existsSync(logPath) && existsSync(join(dir, 'model.onnx')) ? (JSON.parse(readFileSync(logPath, 'utf8')) as TrainLog) : null;
}

/** The criterion read afresh from a log's held-out curve (a log may have been written under an older rule). */
function logConvergence(log: TrainLog): Convergence | null {
  return convergence(log.testLoss ?? [], log.train.steps);
}

/** Trains size P to `steps`, then (while not converged) continues it to twice its steps, up to `maxSteps`; `trained`: whether this call trained it (else its finished run was kept as it is). */
async function trainSize(o: StudyOptionValues, argv: readonly string[], explicit: (name: string) => boolean, P: number, e: StudyEvaluation): Promise<{ log: TrainLog; trained: boolean }> {
  const dir = join(o.out, `P${P}`);
  const kept = o.overwrite ? null : finishedRun(dir);
  let log = kept ?? (await runTraining({ ...o, steps: String(e.steps), trainSize: String(P), out: dir, resume: !o.overwrite }, argv, explicit, `train P=${P}`));
  const nextSteps = (l: TrainLog) => continueTo(l.train.steps, logConvergence(l)?.converged ?? null, e.steps, e.maxSteps);
  for (let next = nextSteps(log); next !== null; next = nextSteps(log)) {
    if (log.train.steps >= e.steps) process.stderr.write(`train P=${P}: not converged after ${log.train.steps} steps: continued to ${next}\n`);
    log = await runTraining({ ...o, steps: String(next), trainSize: String(P), out: dir, resume: true }, argv, explicit, `train P=${P}`);
  }
  return { log, trained: log !== kept };
}

/** One training-set size: trained (or its finished run kept) and evaluated (or its evaluation kept). */
async function studyPoint(o: StudyOptionValues, argv: readonly string[], explicit: (name: string) => boolean, P: number, e: StudyEvaluation): Promise<StudyRow> {
  const { g, schedule, samples, fbSamples, batch, times } = e;
  const dir = join(o.out, `P${P}`);
  const evalPath = join(dir, 'evaluation.json');
  const { log, trained } = await trainSize(o, argv, explicit, P, e);
  // An evaluation is kept only when the model it evaluated is the one kept now.
  let evaluation: ModelEvaluation;
  if (!trained && existsSync(evalPath)) evaluation = JSON.parse(readFileSync(evalPath, 'utf8')) as ModelEvaluation;
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
  return {
    trainSize: P,
    steps: log.train.steps,
    validByLayer: evaluation.validByLayer,
    fullyValid: evaluation.fullyValid,
    forwardBackward: evaluation.forwardBackward,
    seconds: log.seconds,
    // Runs logged before the summed training time existed have none.
    trainingSeconds: log.trainingSeconds ?? null,
    windows: log.windows,
    copies: evaluation.copies,
    // Runs logged before the held-out curve existed have none.
    testLoss: log.testLoss ?? [],
    convergence: logConvergence(log),
  };
}

/** The study's table, root first as every other table (layer L = the root's rules … layer 1 = the lowest). */
function printStudy(g: Grammar, points: readonly StudyRow[], gaps: ReturnType<typeof classKeptGaps>, crossings: ReturnType<typeof layerCrossings>): void {
  const layers = Array.from({ length: g.depth }, (_, i) => `layer ${g.depth - i}`.padStart(8)).join('');
  process.stdout.write(`    P  ${layers}  fully valid  copies    steps  train s  converged  max |class kept − BP|\n`);
  for (const p of points) {
    const gap = gaps.find((x) => x.trainSize === p.trainSize);
    const converged = p.convergence === null ? '—' : p.convergence.converged ? 'yes' : 'no';
    const valid = [...p.validByLayer].reverse().map((x) => x.toFixed(3).padStart(8));
    const seconds = (p.trainingSeconds ?? p.seconds).toFixed(0);
    const cells = [
      String(p.trainSize).padStart(5),
      valid.join(''),
      p.fullyValid.toFixed(3).padStart(11),
      (p.copies ?? 0).toFixed(3).padStart(6),
      String(p.steps).padStart(7),
      seconds.padStart(7),
      converged.padStart(9),
    ];
    process.stdout.write(`${cells.join('  ')}  ${gap ? `${gap.maxGap.toFixed(3)} at noise ${gap.atNoise.toFixed(3)}` : '—'}\n`);
  }
  const reached = crossings.map((c) => `layer ${c.layer}: ${c.size === null ? (c.reached ? 'not for good' : 'never') : Math.round(c.size)}`);
  process.stdout.write(`validity ${VALIDITY_THRESHOLD} reached for good at P ≈ ${reached.join(', ')}\n`);
}
