import { accessSync, constants, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ParamError } from './errors.ts';

/**
 * Output paths are checked before a command computes anything (so a command that exits 2 leaves
 * nothing new on disk), folders are created one level at a time (Node's recursive mkdir can loop
 * forever under /proc), and a multi-file report is written into a temporary folder that replaces
 * the previous report's files as a set only once every file is written.
 */

/**
 * Virtual file systems that hold no ordinary files (recursive mkdir can hang under /proc), and /dev,
 * whose names (/dev/stdout, /dev/null) the rename of an atomic write would replace (/dev/shm, a
 * plain tmpfs, is allowed).
 */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

function isVirtual(abs: string): boolean {
  if (process.platform === 'win32' || abs === '/dev/shm' || abs.startsWith('/dev/shm/')) return false;
  return VIRTUAL_ROOTS.some((root) => abs === root || abs.startsWith(`${root}/`));
}

/** stat, or null when the path does not exist (or a component of it is not a folder). */
function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** How `abs` is shown in a message: relative to the working folder when under it. */
function shown(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

/**
 * Why the folder `abs` cannot be used (or created) for output, or null when it can: it is under a
 * virtual file system, it or an ancestor is not a folder, or the nearest existing one is not
 * writable. Creates nothing.
 */
function folderProblem(abs: string): string | null {
  if (isVirtual(abs)) return `${abs.split(sep).slice(0, 2).join(sep)} is a virtual file system, not a place for output files`;
  let p = abs;
  for (;;) {
    let s: Stats | null;
    try {
      s = statOrNull(p);
    } catch (e) {
      return `cannot access "${shown(p)}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    if (s) {
      if (!s.isDirectory()) return `"${shown(p)}" is not a folder`;
      let real = p;
      try {
        real = realpathSync(p);
      } catch {
        // keep p
      }
      if (isVirtual(real)) return `"${shown(p)}" is on a virtual file system, not a place for output files`;
      try {
        accessSync(p, constants.W_OK | constants.X_OK);
      } catch {
        return `folder "${shown(p)}" is not writable`;
      }
      return null;
    }
    const up = dirname(p);
    if (up === p) return 'no existing folder above it';
    p = up;
  }
}

/**
 * Why the file `path` cannot be written, or null when it can: its folder cannot be created or
 * written, or the path itself is a folder (or a device, pipe or socket). Creates nothing.
 */
export function outputFileProblem(path: string): string | null {
  const abs = resolve(path);
  if (isVirtual(abs)) return `${abs.split(sep).slice(0, 2).join(sep)} is a virtual file system, not a place for output files`;
  let s: Stats | null;
  try {
    s = statOrNull(abs);
    // A link into /proc or /dev (say to /proc/self/fd/1) would be replaced by the rename, not written through.
    if (lstatOrNull(abs)?.isSymbolicLink() && isVirtual(resolve(dirname(abs), readlinkSync(abs)))) return 'it is a link into a virtual file system, not a place for output files';
  } catch (e) {
    return `cannot access it (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  if (s?.isDirectory()) return 'it is a folder';
  // The write renames a temporary file over the target: never over a device, pipe or socket.
  if (s && !s.isFile()) return 'it is not a regular file';
  return folderProblem(dirname(abs));
}

/** Throws a one-line ParamError on `param` when the file `path` cannot be written (see {@link outputFileProblem}). */
export function checkOutputFile(param: string, path: string): void {
  const problem = outputFileProblem(path);
  if (problem) throw new ParamError(param, `invalid --${param} "${path}" (${problem})`);
}

/**
 * Creates the folder `abs` and its missing ancestors one level at a time. Returns the first folder
 * it created (remove it to undo), or undefined when `abs` existed.
 */
export function makeDirs(abs: string): string | undefined {
  const missing: string[] = [];
  let p = resolve(abs);
  while (!statOrNull(p)) {
    if (isVirtual(p)) throw new Error(`cannot create folders under ${p}`);
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  let first: string | undefined;
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        if (first) rmSync(first, { recursive: true, force: true });
        throw e;
      }
      continue;
    }
    first ??= dir;
  }
  return first;
}

/** The files of a report folder, replaced together: a re-run never leaves a mix of old and new. */
export const REPORT_ENTRIES = ['report.html', 'figures', 'theory.json'] as const;

/**
 * Why `outDir` cannot receive a report, or null when it can: the folder cannot be created or
 * written, report.html or theory.json is a folder, figures is not a folder, or figures holds a
 * folder (the report replaces figures/ as a whole and never deletes a folder it did not write).
 * Creates nothing.
 */
export function reportFolderProblem(outDir: string): string | null {
  const abs = resolve(outDir);
  const problem = folderProblem(abs);
  if (problem) return problem;
  if (!statOrNull(abs)) return null;
  try {
    for (const name of ['report.html', 'theory.json']) {
      if (lstatOrNull(join(abs, name))?.isDirectory()) return `"${shown(join(abs, name))}" is a folder`;
    }
    const figures = join(abs, 'figures');
    const fs = lstatOrNull(figures);
    if (fs && !fs.isDirectory()) return `"${shown(figures)}" is not a folder`;
    if (fs) {
      for (const name of readdirSync(figures)) {
        if (lstatSync(join(figures, name)).isDirectory()) return `"${shown(join(figures, name))}" is a folder (the report replaces figures/ as a whole)`;
      }
      accessSync(figures, constants.W_OK | constants.X_OK);
    }
  } catch (e) {
    return `cannot access its report files (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  return null;
}

/** Throws a one-line ParamError on `param` when `outDir` cannot receive a report (see {@link reportFolderProblem}). */
export function checkReportFolder(param: string, outDir: string): void {
  const problem = reportFolderProblem(outDir);
  if (problem) throw new ParamError(param, `invalid --${param} "${outDir}" (${problem})`);
}

/**
 * Writes a report into `outDir`: `write` gets a temporary folder inside `outDir` and writes the
 * report's files (report.html, figures/, theory.json) there; when it returns, those replace the
 * previous report's files as a set and the other files of `outDir` are left alone. When `write`
 * fails, the temporary folder (and any folder created for `outDir`) is removed and the previous
 * report is untouched. Returns the paths `write` returned, moved to `outDir`.
 */
export async function writeReportFolder(outDir: string, write: (stage: string) => Promise<string[]>): Promise<string[]> {
  checkReportFolder('out', outDir);
  const abs = resolve(outDir);
  let created: string | undefined;
  try {
    created = makeDirs(abs);
  } catch {
    throw new ParamError('out', `invalid --out "${outDir}" (cannot create the folder)`);
  }
  const stage = join(abs, `.report-${process.pid}.tmp`);
  const undo = () => {
    rmSync(stage, { recursive: true, force: true });
    if (created) rmSync(created, { recursive: true, force: true });
  };
  let written: string[];
  try {
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage);
    written = await write(stage);
    swapInto(abs, stage);
  } catch (e) {
    undo();
    throw e;
  }
  rmSync(stage, { recursive: true, force: true });
  return written.map((p) => join(outDir, relative(stage, p)));
}

/** Moves the report entries of `stage` into `abs`, the previous ones out; restores them on failure. */
function swapInto(abs: string, stage: string): void {
  const previous = join(stage, '.previous');
  mkdirSync(previous);
  const movedOut: string[] = [];
  const movedIn: string[] = [];
  try {
    for (const name of REPORT_ENTRIES) {
      if (lstatOrNull(join(abs, name))) {
        renameSync(join(abs, name), join(previous, name));
        movedOut.push(name);
      }
    }
    for (const name of REPORT_ENTRIES) {
      if (lstatOrNull(join(stage, name))) {
        renameSync(join(stage, name), join(abs, name));
        movedIn.push(name);
      }
    }
  } catch (e) {
    for (const name of movedIn) rmSync(join(abs, name), { recursive: true, force: true });
    for (const name of movedOut) renameSync(join(previous, name), join(abs, name));
    throw e;
  }
}

/** How a command may treat results already at its output path. */
export interface ExistingResultsChoice {
  /** `--overwrite`: replace them. */
  overwrite?: boolean;
  /** `--resume`: continue them (only where {@link ExistingResultsChoice.resumable}). */
  resume?: boolean;
  /** Whether the command can continue an interrupted run (has `--resume`). */
  resumable?: boolean;
}

/**
 * The one rule every command that writes results follows: finished (or interrupted) results are
 * never replaced silently. Throws a one-line ParamError on `param` when any of `paths` (files or
 * folders the command would write) exists and neither `overwrite` nor `resume` was chosen; the
 * message names what is there and points to `--resume` (where `resumable`) and `--overwrite`.
 * Also refuses `resume` together with `overwrite`. `shownAs` is the path as the user gave it.
 * Creates nothing; call it before any work.
 */
export function refuseExisting(param: string, shownAs: string, paths: readonly string[], choice: ExistingResultsChoice): void {
  if (choice.resume && choice.overwrite) throw new ParamError('overwrite', 'invalid --overwrite with --resume (--resume continues the results, --overwrite replaces them: choose one)');
  if (choice.resume || choice.overwrite) return;
  const found = paths.filter((p) => lstatOrNull(resolve(p)) !== null);
  if (found.length === 0) return;
  const single = found.length === 1 && resolve(found[0]) === resolve(shownAs);
  const what = single ? 'it already exists' : `it already holds ${found.map((p) => basename(p)).join(', ')}`;
  const how = choice.resumable ? 'run the same command with --resume to continue it, or with --overwrite to start afresh' : 'add --overwrite to replace it, or choose another --' + param;
  throw new ParamError(param, `invalid --${param} "${shownAs}" (${what}: ${how})`);
}

/** The files and folders a report writes into `outDir` ({@link REPORT_ENTRIES}), for {@link refuseExisting}. */
export function reportEntries(outDir: string): string[] {
  return REPORT_ENTRIES.map((name) => join(outDir, name));
}
