import type { Command } from 'commander';
import { ParamError, resolveVariant } from '../../core/errors.ts';
import { leafCount } from '../../grammar/params.ts';
import { readGrammarFile } from '../../grammar/serialize.ts';
import { LEARN_PROCESSES, type LearnProcess } from '../../learn/bpUnet.ts';
import { explicitOption } from '../grammarOptions.ts';
import { startProgress } from '../progress.ts';
import { evaluateModel, type ModelEvaluation } from '../../learn/evaluateModel.ts';
import { OnnxRhmDenoiser } from '../../learn/onnxDenoiser.ts';
import { DEVICES } from '../../nn/session.ts';
import { refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { OPTIONS } from '../../core/options.ts';
import { addOption, addRenamedOptions, kebab, parseInteger, parseIntegerList } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { addScheduleOptions, readTrainTokens, scheduleFromOptions, validByLayerText } from '../learnOptions.ts';

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
  batchSize: string;
  device: string;
  out: string;
  overwrite?: boolean;
}

/** `hierdiff evaluate`: a learned RHM denoiser (ONNX) measured against its grammar and exact BP. */
export function registerEvaluate(program: Command, argv: readonly string[]): void {
  const cmd = addScheduleOptions(
    program
      .command('evaluate')
      .description(
        'sample from a learned RHM denoiser (ONNX: inputs x one-hot N×v×d and t = t/T) and measure validity per layer, copies, rule use; with --forward-backward, class/level kept beside exact BP (docs/learning.md)',
      )
      .requiredOption('--model <file>', 'the model (ONNX), e.g. DIR/model.onnx from hierdiff train, or a torch.onnx.export of the published code')
      .requiredOption('--grammar <file>', 'the grammar (JSON from hierdiff grammar --out or hierdiff train)')
      .option('--process <name>', "the model's noise process: uniform or mask (default: from the model's metadata, else uniform)"),
  )
    .option('--samples <n>', 'samples drawn from the model', '1000')
    .option('--train-data <file>', 'DIR/data.json of hierdiff train: report the fraction of samples that copy a training datum')
    .option('--forward-backward', 'also run the forward–backward experiment, the model beside exact BP on the same noisy data');
  addOption(cmd, OPTIONS.times, { help: `${OPTIONS.times.help} (default: 10 evenly spread)` });
  addOption(cmd, OPTIONS.fbSamples, { default: '500' });
  addOption(cmd, OPTIONS.seed, { help: 'seed of the sampling' });
  addOption(cmd, OPTIONS.batchSize, { help: 'samples per model call', default: '256' });
  addOption(cmd, OPTIONS.device, { help: `${OPTIONS.device.help}: ${DEVICES.join(' or ')}` });
  // `--batch` was this command's spelling of the evaluation batch; train's --batch is the training batch.
  addRenamedOptions(cmd, 'evaluate');
  cmd
    .requiredOption('--out <file>', 'evaluation (JSON)')
    .option('--overwrite', 'replace --out if it exists')
    .action(async (o: EvaluateOptionValues, self: Command) => {
      const fbOnly = ['times', 'fbSamples'].find((name) => explicitOption(self, name));
      if (!o.forwardBackward && fbOnly) throw new ParamError(kebab(fbOnly), `invalid --${kebab(fbOnly)} without --forward-backward (it sets the forward–backward experiment)`);
      const g = readGrammarFile(o.grammar);
      const schedule = scheduleFromOptions(o);
      const samples = parseInteger('samples', o.samples, 1, 1e7);
      const seed = parseInteger('seed', o.seed, 0);
      const batch = parseInteger('batch-size', o.batchSize, 1, 1e6);
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
        writeFileAtomic(
          o.out,
          toJsonText({ run: runInfo(argv), model: o.model, grammar: o.grammar, process: model.process, schedule: { steps: T, betaStart: Number(o.betaStart), betaEnd: Number(o.betaEnd) }, ...result }),
        );
        process.stderr.write(
          `evaluate: ${samples} samples in ${((Date.now() - started) / 1000).toFixed(1)}s; ${validByLayerText(result.validByLayer)}; fully valid ${result.fullyValid.toFixed(3)}${result.copies === null ? '' : `; copies ${result.copies.toFixed(3)}`} -> ${o.out}\n`,
        );
        if (result.forwardBackward) {
          process.stdout.write('    t    t/T  noise  class kept (model)  class kept (BP)  tokens kept (model)  tokens kept (BP)\n');
          for (const r of result.forwardBackward) {
            const L = r.model.levelKept.length - 1;
            process.stdout.write(
              `${String(r.t).padStart(5)}  ${r.tOverT.toFixed(3)}  ${r.noise.toFixed(3)}  ${r.model.classKept.toFixed(3).padStart(18)}  ${r.bp.classKept.toFixed(3).padStart(15)}  ${r.model.levelKept[L].toFixed(3).padStart(19)}  ${r.bp.levelKept[L].toFixed(3).padStart(16)}\n`,
            );
          }
        }
      } finally {
        await model.release();
      }
    });
}
