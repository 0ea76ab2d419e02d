import { Command, CommanderError, Help, type Option } from 'commander';
import { InconsistentEvidenceError, ParamError } from '../core/errors.ts';
import { packageVersion } from '../core/packageVersion.ts';
import { RUNTIME_ENV, whenRuntimeChosen } from '../nn/runtime.ts';

/** Exit codes: 0 success, 1 unexpected failure, 2 bad input. */
export const EXIT_BAD_INPUT = 2;

type Register = (program: Command, argv: readonly string[]) => unknown;

/**
 * Every top-level command, in the order help lists them, with the module that registers it. The
 * modules are imported only when needed (see {@link commandsFor}): some pull in onnxruntime, sharp
 * or vega, which take most of a second to load.
 */
const COMMANDS: readonly (readonly [name: string, load: () => Promise<Register>])[] = [
  ['grammar', async () => (await import('./commands/grammar.ts')).registerGrammar],
  ['sample', async () => (await import('./commands/sample.ts')).registerSample],
  ['posterior', async () => (await import('./commands/posterior.ts')).registerPosterior],
  ['forward-backward', async () => (await import('./commands/forwardBackward.ts')).registerForwardBackward],
  ['theory', async () => (await import('./commands/theory.ts')).registerTheory],
  ['sweep', async () => (await import('./commands/sweep.ts')).registerSweep],
  ['merge', async () => (await import('./commands/merge.ts')).registerMerge],
  ['reproduce', async () => (await import('./commands/reproduce.ts')).registerReproduce],
  ['report', async () => (await import('./commands/report.ts')).registerReport],
  ['images', async () => (await import('./commands/images.ts')).registerImages],
  ['train', async () => (await import('./commands/train.ts')).registerTrain],
  ['evaluate', async () => (await import('./commands/evaluate.ts')).registerEvaluate],
  ['learn-study', async () => (await import('./commands/learnStudy.ts')).registerLearnStudy],
  ['serve', async () => (await import('./commands/serve.ts')).registerServe],
];

/**
 * The commands a command line needs registered. Commander dispatches to a subcommand when the first
 * argument names one (the program has no options of its own that take values), and acts on
 * `-V`/`--version` as the first argument before looking at anything else, so only that command
 * (or none) is loaded and the run behaves exactly as with all of them registered. Anything else
 * (help, no command, an unknown one) registers every command.
 */
function commandsFor(argv: readonly string[]): readonly string[] {
  const first = argv[2];
  if (first === '-V' || first === '--version') return [];
  return COMMANDS.some(([name]) => name === first) ? [first!] : COMMANDS.map(([name]) => name);
}

export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('hierdiff')
    .description('Diffusion on the Random Hierarchy Model: exact BP, forward-backward experiments, theory and reports')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const wanted = new Set(commandsFor(argv));
  const registers = await Promise.all(COMMANDS.filter(([name]) => wanted.has(name)).map(([, load]) => load()));
  for (const register of registers) register(program, argv);
  // Commander's own argument errors (unknown option, missing value) are bad input too, and are
  // printed by main() as one line like every other error (see commanderMessage); help marks the
  // options a command cannot run without.
  const override = (cmds: readonly Command[]): void => {
    for (const cmd of cmds) {
      cmd
        .exitOverride()
        .configureOutput({ outputError: () => {} })
        .configureHelp({ optionDescription: describeOption });
      override(cmd.commands);
    }
  };
  program.configureOutput({ outputError: () => {} });
  override(program.commands);
  return program;
}

/** Commander's option help, with "(required)" on a mandatory option. */
function describeOption(this: Help, option: Option): string {
  const text = Help.prototype.optionDescription.call(this, option);
  return option.mandatory ? `${text} (required)` : text;
}

/**
 * Commander's error message as one line: `error: unknown option '--depht'\n(Did you mean --depth?)`
 * becomes `unknown option '--depht' (did you mean --depth?)`.
 */
export function commanderMessage(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean/g, ' (did you mean')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

/** Runs the CLI; the only place that prints errors and sets the exit code. */
export async function main(argv: readonly string[]): Promise<void> {
  // A silent fallback would leave a user wondering why the models run 3× slower.
  whenRuntimeChosen((info) => {
    if (info.name === 'onnxruntime-web' && info.fallback !== `${RUNTIME_ENV}=wasm`) {
      process.stderr.write(`hierdiff: note: models run on onnxruntime-web (WebAssembly, CPU only, about 3× slower) because ${info.fallback} (docs/images.md, "Runtimes")\n`);
    }
  });
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv as string[]);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        process.exitCode = 0;
        return;
      }
      process.stderr.write(`hierdiff: ${commanderMessage(e.message)}\n`);
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
