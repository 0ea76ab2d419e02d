import { readdirSync } from 'node:fs';
import { readJsonLines } from '../../core/jsonLines.ts';
import { dirname, join } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import type { SamplerSpec, VarianceMode } from '../diffusion/sampler.ts';
import type { ClassifierPreset } from '../io/preprocess.ts';

/** Format tag of an image results file's header. */
export const IMAGES_FORMAT = 'hierdiff.images/1';

/** A model file as the run used it: the path given, its size and content hash (a moved file still matches). */
export interface ModelFileInfo {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Everything that determines an image forward–backward run's results. Two runs with equal configs
 * (same model bytes, images, seed, batch size) write the same lines.
 */
export interface ImagesRunConfig {
  model: ModelFileInfo & { inputName: string; timestepName: string; outputName: string; timestepInput: 'original' | 'spaced'; variance: VarianceMode };
  classifier: ModelFileInfo & { inputName: string; logitsName: string; layers: string[]; preset: ClassifierPreset; size: number; resize: number | null };
  images: { dir: string; perClass: number | null; count: number; /** sha256 of the selected names, one per line. */ namesSha256: string };
  imageSize: number;
  channels: 1 | 3;
  schedule: string;
  diffusionSteps: number;
  respacing: string;
  /** Spaced steps K of the respaced process. */
  spacedSteps: number;
  /** Forward–backward steps k ∈ 1 … K, ascending. */
  steps: number[];
  publishedOffset: boolean;
  sampler: SamplerSpec;
  trajectories: number;
  seed: number;
  batchSize: number;
  /** Patch side for the change correlations (χ, C(r)). */
  patch: number;
  /** Images (first in order) whose first trajectory is saved as PNG examples. */
  examples: number;
  /** Whitening statistics: "computed" on the run's clean images, or the sha256 of a --stats file. */
  stats: string;
}

/** Which part of the units a file holds: shard `index` of `count` (units u with u mod count = index). */
export interface ImagesShard {
  index: number;
  count: number;
}

export interface ImagesHeader {
  type: 'header';
  format: typeof IMAGES_FORMAT;
  run: { tool: 'hierdiff'; version: string; command: string };
  config: ImagesRunConfig;
  shard: ImagesShard | null;
  /** Unit lines the finished file holds. */
  units: number;
}

/** One trajectory's round trip of one image. */
export interface TrajectoryResult {
  /** Classifier's top-1 on the generated image. */
  top1: number;
  /** top-1 of the generated image = top-1 of the original. */
  classKept: boolean;
  /** top-1 of the generated image = the image's label (null without a label index). */
  labelKept: boolean | null;
  /** Mean |x_gen − x_orig| over pixels and channels, images in [−1, 1]. */
  pixelChange: number;
  /** Per probed layer, in layer order. */
  layers: { cosine: number; l2: number; l2Normalised: number }[];
}

/** One line per (image, step): all trajectories of that image at that step. */
export interface UnitLine {
  type: 'unit';
  /** `<image index>:<step>`. */
  key: string;
  unit: number;
  image: number;
  name: string;
  label: string | null;
  labelIndex: number | null;
  step: number;
  tOverT: number;
  originalTop1: number;
  trajectories: TrajectoryResult[];
  /** Change correlations over the trajectories (null for K = 1). */
  chiNumerator: number | null;
  chiDenominator: number | null;
  correlation: number[] | null;
}

/** Units are image-major: unit u = image · steps + step index. */
export function unitCount(config: ImagesRunConfig): number {
  return config.images.count * config.steps.length;
}

export function unitsOfShard(config: ImagesRunConfig, shard: ImagesShard | null): number[] {
  const all = Array.from({ length: unitCount(config) }, (_, u) => u);
  return shard ? all.filter((u) => u % shard.count === shard.index) : all;
}

/** The file name of a run's results inside its output folder. */
export function resultsFileName(shard: ImagesShard | null): string {
  return shard ? `results.shard-${shard.index}-of-${shard.count}.jsonl` : 'results.jsonl';
}

function bad(path: string, message: string): never {
  throw new ParamError('results', `invalid image results file ${path}: ${message}`);
}

/** A results file as read: header, unit lines by unit index (with their text), and where complete lines end. */
export interface ScannedImagesFile {
  header: ImagesHeader;
  headerText: string;
  units: Map<number, { line: UnitLine; text: string }>;
  /** The units the header's config and shard call for. */
  expected: number[];
  halfWrittenLast: boolean;
}

/** True when the text's first line is an image results header (to tell them from sweep files). */
export function isImagesResults(firstLine: string): boolean {
  try {
    const h = JSON.parse(firstLine) as { format?: unknown };
    return h.format === IMAGES_FORMAT;
  } catch {
    return false;
  }
}

/** Reads and checks a results file line by line; a last line without newline (a cut write) is reported, not parsed. */
export function scanImagesFile(path: string): ScannedImagesFile {
  const { headerText, lines, halfWrittenLast } = readJsonLines(path, 'image results file');
  let header: ImagesHeader;
  try {
    header = JSON.parse(headerText) as ImagesHeader;
  } catch {
    bad(path, 'line 1 is not JSON');
  }
  if (header?.type !== 'header' || header.format !== IMAGES_FORMAT) bad(path, `line 1 is not a ${IMAGES_FORMAT} header`);
  const expected = unitsOfShard(header.config, header.shard);
  const allowed = new Set(expected);
  const units = new Map<number, { line: UnitLine; text: string }>();
  for (const { line: lineNo, text, value } of lines) {
    const line = value as UnitLine;
    if (typeof line !== 'object' || line === null || line.type !== 'unit' || !allowed.has(line.unit)) bad(path, `line ${lineNo} is not a unit of this ${header.shard ? 'shard' : 'run'}`);
    if (units.has(line.unit)) bad(path, `unit ${line.key} appears twice`);
    units.set(line.unit, { line, text });
  }
  return { header, headerText, units, expected, halfWrittenLast };
}

/** A finished (or, with `partial`, unfinished) results file: its header and unit lines in unit order. */
export interface ImagesResults {
  header: ImagesHeader;
  units: UnitLine[];
  /** Units of the whole run not in this file (for a shard, also the other shards' units). */
  missing: number;
}

export function readImagesResults(path: string, options: { partial?: boolean } = {}): ImagesResults {
  const scan = scanImagesFile(path);
  const missing = scan.expected.filter((u) => !scan.units.has(u)).length;
  const shard = scan.header.shard;
  if (!options.partial) {
    if (scan.halfWrittenLast) bad(path, 'the last line is half-written (run again with --resume to finish it)');
    if (missing > 0) bad(path, `${missing} of ${scan.expected.length} units missing (run again with --resume to finish it)`);
    // A shard is part of a run: drawn alone it would look like the whole run.
    if (shard) bad(path, `it holds shard ${shard.index}/${shard.count} of a run, ${scan.expected.length} of its ${unitCount(scan.header.config)} units (merge the shards with hierdiff images merge ${dirname(path)}, or give --partial to draw this shard alone)`);
  }
  // Missing units of the whole run: those of this file and, for a shard, every unit of the other shards.
  const present = scan.expected.filter((u) => scan.units.has(u));
  return { header: scan.header, units: present.map((u) => scan.units.get(u)!.line), missing: unitCount(scan.header.config) - present.length };
}

/**
 * Merges the shard files of one run in `outDir` (`results.shard-i-of-N.jsonl`, every i of one N,
 * each finished) into `results.jsonl`: the header of the whole run and every unit line in unit
 * order. Returns the merged results; writes nothing unless every check passes.
 */
export function mergeImagesShards(outDir: string, write: (path: string, text: string) => void): ImagesResults & { path: string; shards: number } {
  let names: string[];
  try {
    names = readdirSync(outDir).filter((n) => /^results\.shard-\d+-of-\d+\.jsonl$/.test(n));
  } catch (e) {
    throw new ParamError('out', `invalid folder ${outDir} (cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (names.length === 0) throw new ParamError('out', `invalid folder ${outDir} (no results.shard-i-of-N.jsonl files in it)`);
  const scans = names.map((n) => ({ name: n, scan: scanImagesFile(join(outDir, n)) }));
  const first = scans[0].scan.header;
  const count = first.shard?.count ?? 0;
  const seen = new Set<number>();
  const lines = new Map<number, string>();
  for (const { name, scan } of scans) {
    const h = scan.header;
    if (!h.shard || h.shard.count !== count) throw new ParamError('out', `invalid shard file ${name} (it is not one of ${count} shards)`);
    if (JSON.stringify(h.config) !== JSON.stringify(first.config) || h.run.version !== first.run.version) throw new ParamError('out', `invalid shard file ${name} (another run: its models, images, options or version differ from ${scans[0].name})`);
    const missing = scan.expected.filter((u) => !scan.units.has(u)).length;
    if (missing > 0 || scan.halfWrittenLast) throw new ParamError('out', `invalid shard file ${name} (unfinished: ${missing} units missing; run it again with --resume)`);
    seen.add(h.shard.index);
    for (const [u, v] of scan.units) lines.set(u, v.text);
  }
  const absent = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  if (absent.length) throw new ParamError('out', `invalid folder ${outDir} (shards ${absent.join(', ')} of ${count} are missing)`);
  const header: ImagesHeader = { ...first, shard: null, units: unitCount(first.config) };
  const order = [...lines.keys()].sort((a, b) => a - b);
  const path = join(outDir, resultsFileName(null));
  write(path, `${JSON.stringify(header)}\n${order.map((u) => `${lines.get(u)!}\n`).join('')}`);
  return { path, header, units: order.map((u) => JSON.parse(lines.get(u)!) as UnitLine), missing: 0, shards: count };
}
