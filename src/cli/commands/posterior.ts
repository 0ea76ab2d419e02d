import type { Command } from 'commander';
import { createRng } from '../../core/random.ts';
import { ParamError } from '../../core/errors.ts';
import { referenceBackend } from '../../bp/reference.ts';
import { leafCount, symbolsAt } from '../../grammar/params.ts';
import { OPTIONS } from '../../core/options.ts';
import { leafLogLikelihood, makeProcess, resolveProcess, type Observation } from '../../noise/process.ts';
import { makeSchedule } from '../../noise/schedule.ts';
import { addGrammarOptions, grammarProvenance, resolveGrammarOptions, singleGrammar, type GrammarOptionValues } from '../grammarOptions.ts';
import { addOverwriteOption, refuseExistingFiles, toJsonText, writeFileAtomic } from '../files.ts';
import { addOption, checkScheduleUsed, parseInteger, parseNumber } from '../parse.ts';
import { runInfo } from '../runInfo.ts';
import { parseTokenList } from '../tokens.ts';

const STREAM_POSTERIOR_CLI = 11;

export function registerPosterior(program: Command, argv: readonly string[]): void {
  const cmd = program
    .command('posterior')
    .description('exact BP marginals at every level for given tokens and noise')
    .requiredOption('--tokens <list>', 'comma-separated tokens; eps: the clean x_0; uniform: the noisy x_t; mask: x_t with ? for masked; gaussian: x_0, noised with --seed');
  addOption(cmd, OPTIONS.process, { arg: '<name>', help: 'eps, uniform, mask or gaussian' });
  cmd.option('--noise-level <x>', 'ε for eps/uniform/mask, t/T for gaussian (t = 0 is clean)', '0.5');
  addOption(cmd, OPTIONS.schedule, { help: 'linear or cosine (gaussian only)' });
  cmd.option('--posterior-samples <k>', 'also draw k exact posterior samples', '0').option('--out <file>', 'write JSON: levels[ℓ][node] = marginal vector, logEvidence');
  addOverwriteOption(cmd);
  addGrammarOptions(cmd, { depth: '3' }).action(
    (o: GrammarOptionValues & { tokens: string; process: string; noiseLevel: string; schedule: string; posteriorSamples: string; out?: string; overwrite?: boolean }, self: Command) => {
      const name = resolveProcess(o.process);
      checkScheduleUsed(self, [name]);
      const noise = parseNumber('noise-level', o.noiseLevel, OPTIONS.noiseLevels.min, OPTIONS.noiseLevels.max);
      const schedule = makeSchedule(o.schedule);
      const k = parseInteger('posterior-samples', o.posteriorSamples, 0, 100000);
      const choice = resolveGrammarOptions(o, false);
      const g = singleGrammar(choice);
      const tokens = parseTokenList(o.tokens, g.vocab, name === 'mask');
      refuseExistingFiles([['out', o.out]], o.overwrite);
      const d = leafCount(g);
      if (tokens.length !== d) throw new ParamError('tokens', `invalid --tokens: got ${tokens.length} tokens (expected ${d} = tuple^depth)`);
      const process_ = makeProcess(name, noise, schedule);
      const obs: Observation = name === 'gaussian' ? process_.sample(tokens, g.vocab, createRng(choice.seed, STREAM_POSTERIOR_CLI)) : { kind: 'tokens', tokens };
      const lambda = new Float64Array(d * g.vocab);
      process_.likelihood(obs, g.vocab, lambda);
      // The exact log-likelihoods too: soft evidence whose ratios underflow λ is done in the log domain.
      const logLambda = new Float64Array(d * g.vocab);
      leafLogLikelihood(process_, obs, g.vocab, logLambda);
      const up = referenceBackend.upward(g, lambda, 1, logLambda);
      const mu = referenceBackend.marginals(g, up);
      const levels = mu.map((flat, l) => {
        const N = symbolsAt(g, l);
        return Array.from({ length: flat.length / N }, (_, i) => Array.from(flat.subarray(i * N, (i + 1) * N)));
      });
      const samples = k > 0 ? referenceBackend.sample(g, up, createRng(choice.seed, STREAM_POSTERIOR_CLI, 1), k) : null;
      const sampleTrees = samples ? Array.from({ length: k }, (_, t) => samples.levels.map((lv) => Array.from(lv.subarray((t * lv.length) / k, ((t + 1) * lv.length) / k)))) : undefined;
      if (o.out !== undefined) {
        const json = {
          run: runInfo(argv),
          parameters: { ...choice.params, depth: g.depth, ...grammarProvenance(choice), process: name, noise, control: process_.control, schedule: schedule.name, tokens: Array.from(tokens) },
          logEvidence: up.logEvidence[0],
          levels,
          ...(sampleTrees ? { samples: sampleTrees } : {}),
        };
        writeFileAtomic(o.out, toJsonText(json));
        process.stderr.write(`wrote ${o.out}\n`);
        return;
      }
      process.stdout.write(`log evidence ${up.logEvidence[0].toPrecision(8)}\n`);
      levels.forEach((nodes, l) => {
        const best = nodes.map((vec) => {
          let a = 0;
          for (let b = 1; b < vec.length; b++) if (vec[b] > vec[a]) a = b;
          return `${a}:${vec[a].toFixed(3)}`;
        });
        process.stdout.write(`level ${l} (most likely symbol:probability) ${best.join(' ')}\n`);
      });
      sampleTrees?.forEach((tree, t) => process.stdout.write(`sample ${t}: class ${tree[0][0]} tokens ${tree[g.depth].join(' ')}\n`));
    },
  );
}
