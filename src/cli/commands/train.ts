import type { Command } from 'commander';
import type { Grammar } from '../../grammar/grammar.ts';
import { join } from 'node:path';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import { pMax } from '../../grammar/count.ts';
import { leafCount } from '../../grammar/params.ts';
import { grammarToJson } from '../../grammar/serialize.ts';
import { LEARN_PROCESSES, type BpUnetConfig } from '../../learn/bpUnet.ts';
import { trainingDataset, type DataSampler } from '../../learn/data.ts';
import { bpUnetToOnnx } from '../../learn/bpUnetOnnx.ts';
import { convergence, LR_DECAYS, lossOn, train, type Convergence, type LrDecay } from '../../learn/bpUnetTrain.ts';
import { defaultThreads } from '../../nn/runtime.ts';
import { explicitOption } from '../grammarOptions.ts';
import { formatRate, startTrainingProgress } from '../progress.ts';
import { refuseExisting, toJsonText, writeFileAtomic } from '../files.ts';
import { explainInterrupt, resumeHint } from '../interrupt.ts';
import { parseInteger, parseNumber } from '../parse.ts';
import { runInfo, type RunInfo } from '../runInfo.ts';
import { addTrainOptions, scheduleFromOptions, trainGrammar, TRAIN_DATA_FORMAT, type TrainDataFile, type TrainOptionValues } from '../learnOptions.ts';

/** What `hierdiff train` records in DIR/train.json. */
export interface TrainLog {
  format: 'hierdiff.train-log/1';
  run: RunInfo;
  config: BpUnetConfig;
  grammar: string;
  /** `sampler`: which generator drew the data (TrainDataFile.sampler); absent in older logs (python). */
  train: {
    size: number;
    testSize: number;
    dataSeed: number;
    sampler: DataSampler;
    steps: number;
    batch: number;
    lr: number;
    warmup: number;
    lrDecay: LrDecay;
    threads: number;
    modelSeed: number;
    schedule: { steps: number; betaStart: number; betaEnd: number };
  };
  /** Wall seconds of this call's training, set-up and saving included (a resumed call counts only its own steps). */
  seconds: number;
  /** Optimisation seconds of all the steps, summed over the calls that resumed the run (set-up, saving and test-loss measurements excluded). */
  trainingSeconds: number;
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

/** The training options, parsed (ParamError naming the option). */
function trainSettings(o: TrainOptionValues, g: Grammar) {
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
  return { size, total, testSize, dataSeed, config, steps, batch, lr, warmup, lrDecay, threads, modelSeed, checkpointEvery, testEvery };
}

/** grammar.json and data.json of a run: what it trained on. */
function writeTrainInputs(o: TrainOptionValues, g: Grammar, dataSeed: number, data: ReturnType<typeof trainingDataset>): void {
  const d = leafCount(g);
  const rows = (tokens: Int32Array) => Array.from({ length: tokens.length / d }, (_, n) => Array.from(tokens.subarray(n * d, (n + 1) * d)));
  writeFileAtomic(join(o.out, 'grammar.json'), toJsonText(grammarToJson(g, o.grammar === undefined ? { seed: Number(o.seed), rng: o.rng } : undefined)));
  const dataFile: TrainDataFile = {
    format: TRAIN_DATA_FORMAT,
    dataSeed,
    sampler: data.sampler,
    trainIndices: data.trainIndices,
    testIndices: data.testIndices,
    train: rows(data.train),
    test: rows(data.test),
  };
  writeFileAtomic(join(o.out, 'data.json'), `${JSON.stringify(dataFile)}\n`);
}

/** The run's convergence and timing lines on stderr. */
function printTrainingSummary(label: string, log: TrainLog, steps: number, rate: number, out: string): void {
  const seconds = log.seconds;
  if (log.convergence) {
    const c = log.convergence;
    process.stderr.write(
      `${label}: mean test loss ${c.before.toPrecision(4)} -> ${c.last.toPrecision(4)} over the last 20 % of the steps: ${c.converged ? 'converged' : 'still falling (not converged)'}\n`,
    );
  }
  // The rate is the training loop's, as on the bar (steps over the seconds since the first step
  // began); the rest of the wall time is set-up (graph, session) and saving.
  const ran = steps - log.resumedFrom;
  const loopSeconds = rate > 0 ? ran / rate : 0;
  const timing = rate > 0 ? ` (${loopSeconds.toFixed(1)}s of steps at ${formatRate(rate)} steps/s + ${Math.max(0, seconds - loopSeconds).toFixed(1)}s set-up and saving)` : '';
  process.stderr.write(`${label}: ${ran} steps in ${seconds.toFixed(1)}s${timing}, final loss ${log.losses[log.losses.length - 1].toFixed(4)} -> ${join(out, 'model.onnx')}\n`);
}

/** One training run into `o.out`: grammar.json, data.json, checkpoints, model.onnx and train.json (returned). */
export async function runTraining(o: TrainOptionValues, argv: readonly string[], explicit: (name: string) => boolean, label = 'train'): Promise<TrainLog> {
  const g = trainGrammar(o, explicit);
  const schedule = scheduleFromOptions(o);
  const { size, total, testSize, dataSeed, config, steps, batch, lr, warmup, lrDecay, threads, modelSeed, checkpointEvery, testEvery } = trainSettings(o, g);
  const data = trainingDataset(g, dataSeed, size, testSize);
  if (data.sampler === 'own')
    process.stderr.write(
      `${label}: P_max = ${total} is at least 2^53, where the published sampling (CPython's random.sample) is not reproducible: the data are drawn with our own generator (sampler "own" in train.json and data.json)\n`,
    );
  writeTrainInputs(o, g, dataSeed, data);
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
    train: {
      size,
      testSize,
      dataSeed,
      sampler: data.sampler,
      steps,
      batch,
      lr,
      warmup,
      lrDecay,
      threads,
      modelSeed,
      schedule: { steps: schedule.steps, betaStart: schedule.betaStart, betaEnd: schedule.betaEnd },
    },
    seconds,
    trainingSeconds: result.seconds,
    stepsPerSecond: rate,
    resumedFrom: result.resumedFrom,
    lossEvery: thin.every,
    losses: thin.values,
    windows: windows.map((w, i) => ({ from: w.from, to: w.to, train: w.loss, test: testWindows ? testWindows[i].loss : null })),
    testLoss: result.testLoss,
    convergence: convergence(result.testLoss, steps),
  };
  writeFileAtomic(join(o.out, 'train.json'), toJsonText(log));
  printTrainingSummary(label, log, steps, rate, o.out);
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
      refuseExisting(
        'out',
        o.out,
        TRAIN_OUTPUTS.map((name) => join(o.out, name)),
        { resume: o.resume, overwrite: o.overwrite, resumable: true },
      );
      const unhook = explainInterrupt('train', resumeHint(`from the last checkpoint in ${o.out}, written every --checkpoint-every steps`));
      try {
        await runTraining(o, argv, (name) => explicitOption(self, name));
      } finally {
        unhook();
      }
    });
}
