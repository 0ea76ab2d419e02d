import { Option, type Command } from 'commander';
import { checkIntegerAt, invalidValue, ParamError, type ValueSource } from '../core/errors.ts';
import { readInteger, readNumberAt, RENAMED_OPTIONS, type IntegerOption, type OptionSpec } from '../core/options.ts';
import { parseNoiseGrid } from '../noise/level.ts';

/** An option as messages name it: `invalid --name "text" (…)`. */
function flag(param: string): ValueSource {
  return { param, label: `--${param}` };
}

/**
 * Declares an option of the options table (src/core/options.ts) on `cmd`: its flag, placeholder,
 * help and default, each replaced where a command means something narrower.
 */
export function addOption(cmd: Command, option: OptionSpec, override: { arg?: string; help?: string; default?: string } = {}): Command {
  const arg = override.arg ?? option.arg;
  // An override may drop the default (`default: undefined`), so ask whether it names one.
  return cmd.option(`--${option.flag}${arg ? ` ${arg}` : ''}`, override.help ?? option.help, 'default' in override ? override.default : option.default);
}

/** Commander's attribute name of a flag: `noise-levels-eps` → `noiseLevelsEps`. */
function camel(flagName: string): string {
  return flagName.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Keeps the old spellings of `command`'s renamed options (src/core/options.ts RENAMED_OPTIONS)
 * working for one release: hidden from help, each takes the same value, sets the option it was
 * renamed to and prints a one-line note on stderr. Both spellings at once are refused.
 * `command`: the command's path as typed (`images schedule`); call after its options are declared.
 */
export function addRenamedOptions(cmd: Command, command: string): Command {
  for (const { old, option } of RENAMED_OPTIONS.filter((r) => (r.commands as readonly string[]).includes(command))) {
    const now = option.flag;
    const typed = { old: false, now: false };
    cmd.addOption(new Option(`--${old} ${option.arg}`).hideHelp());
    cmd.on(`option:${old}`, (value: string) => {
      typed.old = true;
      process.stderr.write(`hierdiff: --${old} is deprecated here, use --${now}\n`);
      cmd.setOptionValueWithSource(camel(now), value, 'cli');
    });
    cmd.on(`option:${now}`, () => {
      typed.now = true;
    });
    cmd.hook('preAction', () => {
      if (typed.old && typed.now) throw new ParamError(now, `invalid --${old} with --${now} (--${old} is its old spelling: give --${now} only)`);
    });
  }
  return cmd;
}

/** An option's flag from commander's attribute name: `noiseLevelsEps` → `noise-levels-eps`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Refuses `--schedule` typed on a command whose processes include no gaussian one: the DDPM
 * schedule is the gaussian process's and would change nothing (a silent no-op). `cmd` parsed the
 * options, or says which were typed.
 */
export function checkScheduleUsed(cmd: Command | ((name: string) => boolean), processes: readonly string[]): void {
  const typed = typeof cmd === 'function' ? cmd('schedule') : !['default', undefined].includes(cmd.getOptionValueSource('schedule'));
  if (!typed || processes.includes('gaussian')) return;
  throw new ParamError('schedule', `invalid --schedule with --process ${processes.join(',')} (the schedule is the gaussian process's; the others ignore it)`);
}

/** Parses one integer option value (digits only: no hex/octal/binary literal, exponent or fraction). */
export function parseInteger(param: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  return checkIntegerAt(flag(param), readInteger(text), min, max, `"${text}"`);
}

/** Parses the value of an integer option of the options table, in its range. */
export function parseOption(option: IntegerOption, text: string): number {
  return parseInteger(option.flag, text, option.min, option.max);
}

/** Parses one number option value in [min, max], written as a decimal literal (src/core/options.ts readDecimal). */
export function parseNumber(param: string, text: string, min: number, max: number): number {
  return readNumberAt(flag(param), text, min, max);
}

/** Parses `2,4,6` into integers, in the order given; distinct unless `repeats` (e.g. channels per level). */
export function parseIntegerList(param: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER, repeats = false): number[] {
  const parts = text.split(',');
  if (parts.some((p) => p.trim() === '')) throw invalidValue(flag(param), `"${text}"`, `expected a comma-separated list of integers in [${min}, ${max}]`);
  const values = parts.map((p) => parseInteger(param, p, min, max));
  if (!repeats && new Set(values).size !== values.length) throw invalidValue(flag(param), `"${text}"`, 'values must be distinct');
  return values;
}

/** Parses a noise grid option (a list `0.6,0.7` or a range `a:b:n`, src/noise/level.ts). */
export function parseNoiseLevels(param: string, text: string): number[] {
  return parseNoiseGrid(text, flag(param));
}
