import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import { mergeResults, readResults, scanResults, type MergeRules, type Refuse, type ResultsSchema, type ScannedResults } from '../../core/resultsFile.ts';
import { inShard, type Shard } from '../../core/shard.ts';
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
  images: { dir: string; perClass: number | null; count: number /** sha256 of the selected names, one per line. */; namesSha256: string };
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
export type ImagesShard = Shard;

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
  return Array.from({ length: unitCount(config) }, (_, u) => u).filter((u) => inShard(u, shard));
}

/** The names {@link resultsFileName} gives shard files. */
export const SHARD_FILE_NAME = /^results\.shard-\d+-of-\d+\.jsonl$/;

/** The file name of a run's results inside its output folder. */
export function resultsFileName(shard: ImagesShard | null): string {
  return shard ? `results.shard-${shard.index}-of-${shard.count}.jsonl` : 'results.jsonl';
}

/** A results file as read (src/core/resultsFile.ts): units by unit index, each with its line. */
export type ScannedImagesFile = ScannedResults<ImagesHeader, number, number, UnitLine>;

/** True when the text's first line is an image results header (to tell them from sweep files). */
export function isImagesResults(firstLine: string): boolean {
  try {
    const h = JSON.parse(firstLine) as { format?: unknown };
    return h.format === IMAGES_FORMAT;
  } catch {
    return false;
  }
}

function parseHeader(value: unknown, bad: Refuse): ImagesHeader {
  const header = value as ImagesHeader | null;
  if (header?.type !== 'header' || header.format !== IMAGES_FORMAT) bad(`line 1 is not a ${IMAGES_FORMAT} header`);
  return header;
}

function parseLine(value: unknown, lineNo: number, header: ImagesHeader, units: ReadonlyMap<number, number>, bad: Refuse): { key: number; value: UnitLine } {
  const line = value as UnitLine;
  if (typeof line !== 'object' || line === null || line.type !== 'unit' || !units.has(line.unit)) bad(`line ${lineNo} is not a unit of this ${header.shard ? 'shard' : 'run'}`);
  return { key: line.unit, value: line };
}

/** An image run's results file: a header, then one line per finished unit (image, step) of its run or shard. */
export const IMAGES_RESULTS: ResultsSchema<ImagesHeader, number, number, UnitLine> = {
  what: 'image results file',
  header: parseHeader,
  units: (header) => unitsOfShard(header.config, header.shard),
  keyOf: (unit) => unit,
  line: parseLine,
  twice: (_unit, line) => `unit ${line.key} appears twice`,
  duplicates: (scan) => `unit ${scan.duplicates[0].key} appears twice`,
  unfinished: {
    halfWritten: 'the last line is half-written (run again with --resume to finish it)',
    missing: (missing, expected) => `${missing.length} of ${expected.length} units missing (run again with --resume to finish it)`,
    shard: (header, expected, path) =>
      `it holds shard ${header.shard!.index}/${header.shard!.count} of a run, ${expected.length} of its ${unitCount(header.config)} units (merge the shards with hierdiff images merge ${dirname(path)}, or give --partial to draw this shard alone)`,
  },
};

/** Reads and checks a results file line by line; a last line without newline (a cut write) is reported, not parsed. */
export function scanImagesFile(path: string): ScannedImagesFile {
  return scanResults(IMAGES_RESULTS, path);
}

/** A finished (or, with `partial`, unfinished) results file: its header and unit lines in unit order. */
export interface ImagesResults {
  header: ImagesHeader;
  units: UnitLine[];
  /** Units of the whole run not in this file (for a shard, also the other shards' units). */
  missing: number;
}

export function readImagesResults(path: string, options: { partial?: boolean } = {}): ImagesResults {
  const read = readResults(IMAGES_RESULTS, path, options.partial ?? false);
  // Missing units of the whole run: those of this file and, for a shard, every unit of the other shards.
  return { header: read.header, units: read.values, missing: unitCount(read.header.config) - read.values.length };
}

/** The checks of `images merge`: every shard file of one count, of one run, finished, and none absent. */
function imagesMergeRules(outDir: string, count: number): MergeRules<ImagesHeader, number, number, UnitLine> {
  return {
    input({ name, scan }, first) {
      const h = scan.header;
      if (!h.shard || h.shard.count !== count) return `invalid shard file ${name} (it is not one of ${count} shards)`;
      if (JSON.stringify(h.config) !== JSON.stringify(first.scan.header.config) || h.run.version !== first.scan.header.run.version) {
        return `invalid shard file ${name} (another run: its models, images, options or version differ from ${first.name})`;
      }
      const missing = scan.expected.filter((u) => !scan.found.has(u)).length;
      return missing > 0 || scan.halfWrittenLast ? `invalid shard file ${name} (unfinished: ${missing} units missing; run it again with --resume)` : null;
    },
    // Two files of one shard: the absent shard is what to report.
    twice: () => null,
    complete(missing, _all, inputs) {
      const seen = new Set(inputs.map((i) => i.scan.header.shard!.index));
      const absent = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
      if (absent.length) return `invalid folder ${outDir} (shards ${absent.join(', ')} of ${count} are missing)`;
      return missing.length ? `invalid folder ${outDir} (${missing.length} units missing)` : null;
    },
    merged: (lead) => ({ ...lead, shard: null, units: unitCount(lead.config) }),
  };
}

/**
 * Merges the shard files of one run in `outDir` (`results.shard-i-of-N.jsonl`, every i of one N,
 * each finished) into `results.jsonl`: the header of the whole run and every unit line in unit
 * order. Returns the merged results; writes nothing unless every check passes.
 */
export function mergeImagesShards(outDir: string, write: (path: string, text: string) => void): ImagesResults & { path: string; shards: number } {
  let names: string[];
  try {
    names = readdirSync(outDir).filter((n) => SHARD_FILE_NAME.test(n));
  } catch (e) {
    throw new ParamError('out', `invalid folder ${outDir} (cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (names.length === 0) throw new ParamError('out', `invalid folder ${outDir} (no results.shard-i-of-N.jsonl files in it)`);
  const inputs = names.map((n) => ({ name: n, scan: scanImagesFile(join(outDir, n)) }));
  const count = inputs[0].scan.header.shard?.count ?? 0;
  const fail = (message: string): never => {
    throw new ParamError('out', message);
  };
  const merged = mergeResults(IMAGES_RESULTS, inputs, imagesMergeRules(outDir, count), fail);
  const path = join(outDir, resultsFileName(null));
  write(path, merged.text);
  return { path, header: merged.header, units: merged.values, missing: 0, shards: count };
}
