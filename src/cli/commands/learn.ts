import type { Command } from 'commander';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import type { Grammar } from '../../grammar/grammar.ts';
import { leafCount } from '../../grammar/params.ts';
import { grammarFromJson } from '../../grammar/serialize.ts';
import { LEARN_PROCESSES, type LearnProcess } from '../../learn/bpUnet.ts';
import { evaluateModel } from '../../learn/evaluateModel.ts';
import { OnnxRhmDenoiser } from '../../learn/onnxDenoiser.ts';
import { discreteSchedule, type DiscreteSchedule } from '../../learn/schedule.ts';
import { DEVICES } from '../../images/models/session.ts';
import { readJsonFile, toJsonText, writeFileAtomic } from '../files.ts';
import { parseInteger, parseIntegerList, parseNumber } from '../parse.ts';
import { runInfo } from '../runInfo.ts';

/** Format tag of the data file `hierdiff train` writes beside its model. */
export const TRAIN_DATA_FORMAT = 'hierdiff.train-data/1';

/** The training/test sets of a run, as written to DIR/data.json. */
export interface TrainDataFile {
  format: typeof TRAIN_DATA_FORMAT;
  /** Seed of CPython's random.sample over range(P_max) (docs/science.md §7). */
  dataSeed: number;
  trainIndices: number[];
  testIndices: number[];
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
    .action(async (o: EvaluateOptionValues) => {
      const g = grammarFromJson(readJsonFile('grammar', o.grammar));
      const schedule = scheduleFromOptions(o);
      const samples = parseInteger('samples', o.samples, 1, 1e7);
      const seed = parseInteger('seed', o.seed, 0);
      const batch = parseInteger('batch', o.batch, 1, 1e6);
      const noiseProcess: LearnProcess | undefined = o.process === undefined ? undefined : resolveVariant('process', o.process, LEARN_PROCESSES);
      const train = o.trainData === undefined ? undefined : readTrainTokens(o.trainData, g);
      const T = schedule.steps;
      const times = o.times === undefined ? [...new Set(Array.from({ length: 10 }, (_, i) => Math.max(1, Math.round(((i + 1) * T) / 10))))] : parseIntegerList('times', o.times, 1, T);
      const fbSamples = parseInteger('fb-samples', o.fbSamples, 1, 1e6);
      const model = await OnnxRhmDenoiser.open(o.model, { batchSize: batch, device: resolveVariant('device', o.device, DEVICES), process: noiseProcess, vocab: g.vocab, length: leafCount(g) });
      try {
        const started = Date.now();
        const result = await evaluateModel(model, g, schedule, { samples, seed, batch, train, forwardBackward: o.forwardBackward ? { times, samples: fbSamples } : undefined });
        writeFileAtomic(o.out, toJsonText({ run: runInfo(argv), model: o.model, grammar: o.grammar, process: model.process, schedule: { steps: T, betaStart: Number(o.betaStart), betaEnd: Number(o.betaEnd) }, ...result }));
        process.stderr.write(`evaluate: ${samples} samples in ${((Date.now() - started) / 1000).toFixed(1)}s; valid by layer ${result.validByLayer.map((x) => x.toFixed(3)).join(' ')}; fully valid ${result.fullyValid.toFixed(3)}${result.copies === null ? '' : `; copies ${result.copies.toFixed(3)}`} -> ${o.out}\n`);
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
