import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { ParamError } from '../../core/errors.ts';

/** One image file found by {@link listImages}. */
export interface ImageEntry {
  /** Path of the file: `dir` joined with {@link ImageEntry.name}. */
  path: string;
  /** Path relative to the listed folder, with '/' separators (`"cat/001.png"`, `"n01440764_10026.JPEG"`). */
  name: string;
  /** Class name: the subfolder's name, or the wnid of a top-level ImageNet-style file name; null if neither. */
  label: string | null;
  /** Class index of {@link ImageEntry.label} (see {@link listImages} for the rules); null when unknown. */
  labelIndex: number | null;
}

/** Options of {@link listImages}. */
export interface ListImagesOptions {
  /** Keep only the first N images of each label, in name order (unlabelled images count as one class). */
  perClass?: number;
  /** Text file with one class name per line; the 0-based line number is the class index. */
  classIndexFile?: string;
}

/** Extensions accepted, compared case-insensitively. Listed in error messages. */
const EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;
/** An ImageNet synset id, the label of ImageNet's training/validation file names. */
const WNID = /^n\d{8}$/;
/** A top-level ImageNet-style file name `<wnid>_<anything>.<ext>`. */
const WNID_FILE = /^(n\d{8})_/;
/** A canonical non-negative integer; "03" is not one, so it cannot silently alias class 3. */
const INTEGER = /^(0|[1-9]\d*)$/;
/** ImageNet-1k's class count; its class order is the sorted order of its wnids. */
const IMAGENET_CLASSES = 1000;

const isImageName = (name: string): boolean => {
  const lower = name.toLowerCase();
  return EXTENSIONS.some((ext) => lower.endsWith(ext) && lower.length > ext.length);
};

/** Code-unit order: independent of locale, so listings (and which images perClass keeps) are reproducible. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function readFolder(dir: string, shownAs: string): Dirent[] {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ParamError('images', `invalid images folder "${shownAs}" (${code === 'ENOENT' ? 'not found' : `cannot read: ${code ?? 'unknown error'}`})`);
  }
  if (!st.isDirectory()) throw new ParamError('images', `invalid images folder "${shownAs}" (not a folder)`);
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new ParamError('images', `invalid images folder "${shownAs}" (cannot read: ${(e as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
}

/** Resolves a symbolic link to what it points at; a dangling link counts as neither file nor folder. */
function kindOf(dir: string, entry: Dirent): 'file' | 'dir' | null {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return null;
  try {
    const st = statSync(join(dir, entry.name));
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : null;
  } catch {
    return null;
  }
}

function readClassIndex(file: string): Map<string, number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ParamError('images', `invalid class index file "${file}" (cannot read: ${(e as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  const index = new Map<string, number>();
  // Blank lines keep their line number (a class index is a line number), they just name no class.
  text.split(/\r?\n/).forEach((line, i) => {
    const name = line.trim();
    if (name === '') return;
    if (index.has(name)) {
      throw new ParamError('images', `invalid class index file "${file}" (class "${name}" on lines ${index.get(name)! + 1} and ${i + 1})`);
    }
    index.set(name, i);
  });
  return index;
}

/**
 * Lists the .png/.jpg/.jpeg files (any case) directly in `dir` and in its immediate subfolders,
 * sorted by {@link ImageEntry.name} in code-unit order. Names starting with '.' (hidden files,
 * macOS `._*` resource forks) are skipped.
 *
 * Labels: a file in a subfolder is labelled with the subfolder's name (torchvision ImageFolder
 * layout); a top-level file named `<wnid>_*.<ext>` (ImageNet style, wnid = `n` + 8 digits) with the
 * wnid; any other top-level file with null.
 *
 * Label indices: with `classIndexFile`, the 0-based line of the label in that file (a label missing
 * from it is a ParamError); otherwise a canonical integer label ("3") is its own index; otherwise,
 * when the labels are exactly 1000 distinct wnids, the position of the label in their sorted order
 * (ImageNet-1k's class order); otherwise null.
 *
 * `perClass: N` keeps the first N images of each label (unlabelled images form one class); the
 * result stays in name order. Every label must have at least N images.
 *
 * @returns the entries, in name order.
 * @throws ParamError (param `images`) when the folder is missing or unreadable, holds no image,
 *   `perClass` is not a positive integer, (param `per-class`) a label has fewer than `perClass` images, or the class index file is unreadable or lacks a label.
 */
export function listImages(dir: string, options: ListImagesOptions = {}): ImageEntry[] {
  const { perClass, classIndexFile } = options;
  if (perClass !== undefined && (!Number.isInteger(perClass) || perClass < 1)) {
    throw new ParamError('images', `invalid images per-class count ${String(perClass)} (expected an integer >= 1)`);
  }

  const found: { name: string; path: string; label: string | null }[] = [];
  for (const entry of readFolder(dir, dir)) {
    if (entry.name.startsWith('.')) continue;
    const kind = kindOf(dir, entry);
    if (kind === 'file' && isImageName(entry.name)) {
      const wnid = WNID_FILE.exec(entry.name);
      found.push({ name: entry.name, path: join(dir, entry.name), label: wnid ? wnid[1] : null });
    } else if (kind === 'dir') {
      const sub = join(dir, entry.name);
      for (const inner of readFolder(sub, sub)) {
        if (inner.name.startsWith('.') || kindOf(sub, inner) !== 'file' || !isImageName(inner.name)) continue;
        found.push({ name: `${entry.name}/${inner.name}`, path: join(sub, inner.name), label: entry.name });
      }
    }
  }
  if (found.length === 0) {
    throw new ParamError('images', `invalid images folder "${dir}" (no ${EXTENSIONS.join(', ')} files in it or its immediate subfolders)`);
  }
  found.sort((a, b) => byCodeUnit(a.name, b.name));

  const indexOf = labelIndexer(
    found.map((f) => f.label),
    classIndexFile,
  );
  let entries: ImageEntry[] = found.map((f) => ({ ...f, labelIndex: f.label === null ? null : indexOf(f.label) }));

  if (perClass !== undefined) {
    // Keyed by label with a separate slot for null, so no label string can collide with "unlabelled".
    const kept = new Map<string | null, number>();
    entries = entries.filter((e) => {
      const n = kept.get(e.label) ?? 0;
      kept.set(e.label, n + 1);
      return n < perClass;
    });
    // A class with fewer images would silently unbalance the run: refuse it (docs/limits.md).
    const [label, n] = [...kept].reduce((a, b) => (b[1] < a[1] ? b : a));
    if (n < perClass) {
      throw new ParamError(
        'per-class',
        `invalid --per-class ${perClass} (${label === null ? 'the unlabelled images' : `class "${label}"`} of --images ${dir} ha${label === null ? 've' : 's'} only ${n} image${n === 1 ? '' : 's'})`,
      );
    }
  }
  return entries;
}

/** Chooses the label → index rule once, from all labels present (before perClass trims anything). */
function labelIndexer(labels: (string | null)[], classIndexFile: string | undefined): (label: string) => number | null {
  if (classIndexFile !== undefined) {
    const index = readClassIndex(classIndexFile);
    return (label) => {
      const i = index.get(label);
      if (i === undefined) throw new ParamError('images', `invalid class index file "${classIndexFile}" (no line names class "${label}")`);
      return i;
    };
  }
  const distinct = [...new Set(labels.filter((l): l is string => l !== null))];
  const wnidOrder = distinct.length === IMAGENET_CLASSES && distinct.every((l) => WNID.test(l)) ? new Map(distinct.sort(byCodeUnit).map((l, i) => [l, i])) : null;
  return (label) => {
    if (INTEGER.test(label) && Number.isSafeInteger(Number(label))) return Number(label);
    return wnidOrder?.get(label) ?? null;
  };
}
