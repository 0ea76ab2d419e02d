import { Command, CommanderError } from 'commander';
import { InconsistentEvidenceError, ParamError } from '../core/errors.ts';
import { VERSION } from './runInfo.ts';
import { registerGrammar } from './commands/grammar.ts';
import { registerSample } from './commands/sample.ts';
import { registerPosterior } from './commands/posterior.ts';
import { registerForwardBackward } from './commands/forwardBackward.ts';
import { registerTheory } from './commands/theory.ts';
import { registerSweep } from './commands/sweep.ts';
import { registerMerge } from './commands/merge.ts';
import { registerReproduce } from './commands/reproduce.ts';
import { registerReport } from './commands/report.ts';
import { registerImages } from './commands/images.ts';
import { registerEvaluate, registerLearnStudy, registerTrain } from './commands/learn.ts';

/** Exit codes: 0 success, 1 unexpected failure, 2 bad input. */
export const EXIT_BAD_INPUT = 2;

export function buildProgram(argv: readonly string[]): Command {
  const program = new Command('hierdiff')
    .description('Diffusion on the Random Hierarchy Model: exact BP, forward-backward experiments, theory and reports')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerGrammar(program, argv);
  registerSample(program, argv);
  registerPosterior(program, argv);
  registerForwardBackward(program, argv);
  registerTheory(program, argv);
  registerSweep(program, argv);
  registerMerge(program, argv);
  registerReproduce(program, argv);
  registerReport(program, argv);
  registerImages(program, argv);
  registerTrain(program, argv);
  registerEvaluate(program, argv);
  registerLearnStudy(program, argv);
  // Commander's own argument errors (unknown option, missing value) are bad input too.
  const override = (cmds: readonly Command[]): void => {
    for (const cmd of cmds) {
      cmd.exitOverride();
      override(cmd.commands);
    }
  };
  override(program.commands);
  return program;
}

/** Runs the CLI; the only place that prints errors and sets the exit code. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv as string[]);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        process.exitCode = 0;
        return;
      }
      // Commander has already printed its one-line message.
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    if (e instanceof ParamError) {
      process.stderr.write(`hierdiff: ${e.message}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    if (e instanceof InconsistentEvidenceError) {
      process.stderr.write(`hierdiff: ${e.message}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    process.stderr.write(`hierdiff: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
}
