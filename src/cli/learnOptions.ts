/** What the learning commands share: their data file, the schedule and training options, the grammar they train on. */
import type { Command } from 'commander';
import { ParamError } from '../core/errors.ts';
import { OPTIONS } from '../core/options.ts';
import type { Grammar } from '../grammar/grammar.ts';
import { leafCount } from '../grammar/params.ts';
import { resolveRuleRng, sampleRules } from '../grammar/sampleRules.ts';
import { readGrammarFile } from '../grammar/serialize.ts';
import type { DataSampler } from '../learn/data.ts';
import { DEFAULT_DECAY, DEFAULT_LR, DEFAULT_WARMUP } from '../learn/bpUnetTrain.ts';
import { defaultThreads } from '../nn/runtime.ts';
import { checkAgainstGrammar, type GrammarOptionValues } from './grammarOptions.ts';
import { discreteSchedule, type DiscreteSchedule } from '../learn/schedule.ts';
import { readJsonFile } from './files.ts';
import { addOption, parseInteger, parseNumber, parseOption } from './parse.ts';

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
  addOption(cmd, OPTIONS.diffusionSteps, { help: 'steps T of the discrete schedule', default: '200' });
  addOption(cmd, OPTIONS.betaStart);
  return addOption(cmd, OPTIONS.betaEnd);
}

export function scheduleFromOptions(o: { diffusionSteps: string; betaStart: string; betaEnd: string }): DiscreteSchedule {
  return discreteSchedule({
    steps: parseInteger('diffusion-steps', o.diffusionSteps, 1, 100000),
    betaStart: parseNumber('beta-start', o.betaStart, 0, 1),
    betaEnd: parseNumber('beta-end', o.betaEnd, 0, 1),
  });
}

export interface TrainOptionValues extends GrammarOptionValues {
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

/**
 * `validByLayer` (layer 1 = the lowest rules … L = the root) printed root → leaves like every other
 * table, each value labelled: "valid by layer (root..leaves): layer 3 0.000, layer 2 0.060, layer 1 0.405".
 */
export function validByLayerText(validByLayer: readonly number[]): string {
  const layers = validByLayer.map((x, i) => `layer ${i + 1} ${x.toFixed(3)}`).reverse();
  return `valid by layer (root..leaves): ${layers.join(', ')}`;
}

/** The options of `hierdiff train` (and of `hierdiff learn-study`, which trains at several sizes). */
export function addTrainOptions(cmd: Command): Command {
  // The grammar options of the table, with the published example's defaults.
  addOption(cmd, OPTIONS.vocab, { default: '8' });
  addOption(cmd, OPTIONS.classes);
  addOption(cmd, OPTIONS.synonyms, { default: '3' });
  addOption(cmd, OPTIONS.tuple);
  addOption(cmd, OPTIONS.depth, { help: 'depth L', default: '3' });
  addOption(cmd, OPTIONS.seed, { help: 'seed of the grammar', default: '42' });
  addOption(cmd, OPTIONS.rng, { help: "rule generator (python: the published code's grammar)", default: 'python' });
  addOption(cmd, OPTIONS.grammar);
  cmd
    .option(
      '--train-size <P>',
      'training data, drawn as the published code does (CPython random.sample; where P_max >= 2^53 makes that not reproducible, with our own generator: "sampler" in train.json says which)',
      '1024',
    )
    .option('--test-size <n>', 'test data (at most P_max − P)', '1024')
    .option('--data-seed <n>', "seed of CPython's random.sample over range(P_max) (of our own generator where P_max >= 2^53)", '0')
    .option('--width <W>', 'channels of the U-Net (published: 1024)', '256');
  addOption(cmd, OPTIONS.steps, { default: '2000' });
  addOption(cmd, OPTIONS.batch);
  cmd
    .option(
      '--lr <x>',
      'Adam learning rate after the warm-up; with the defaults, 2 000 steps give samples valid 0.98 / 0.77 / 0.33 by layer (random tokens: 0.375 / 0.053 / 0.001), while the published 1e-4 barely moves this model (docs/learning.md)',
      String(DEFAULT_LR),
    )
    .option('--warmup <n>', 'steps of linear learning-rate warm-up (0: none)', String(DEFAULT_WARMUP))
    .option('--lr-decay <name>', `after the warm-up: cosine (down to 0 at the last step; --resume then needs the same --steps) or none`, DEFAULT_DECAY)
    .option('--process <name>', 'uniform (D3PM) or mask (absorbing)', 'uniform')
    .option('--model-seed <n>', 'seed of the initialisation, batches and noise', '2')
    .option('--checkpoint-every <n>', 'steps between checkpoints', '500')
    .option('--test-every <n>', 'steps between measurements of the test loss (the convergence criterion reads them)', '500');
  addScheduleOptions(cmd);
  cmd
    .option('--resume', 'continue from the checkpoint in the output folder (same settings)')
    .option('--overwrite', 'start afresh in an output folder that holds a run (its checkpoint and model are replaced)');
  return addOption(cmd, OPTIONS.threads, { help: `${OPTIONS.threads.help.replace(/\)$/, '')}, here ${defaultThreads()}); a run is bit-identical at a given count` });
}

/**
 * The grammar the training options name: a saved one (size options given on the command line must
 * agree with it), or drawn (default: the published example).
 */
export function trainGrammar(o: TrainOptionValues, explicit: (name: string) => boolean): Grammar {
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
