import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import type { Param } from '../bpUnet.ts';
import { readTensorFile, writeTensorFile, type NamedTensor } from './tensorFile.ts';

/**
 * Checkpoints of the image models' trainer (trainImageModel.ts): `checkpoint.bin` holds everything
 * needed to resume (parameters, Adam moments, the EMA weights, step, losses, the run's header) and
 * `checkpoint.json` the same header without tensors, both written atomically, the binary first.
 *
 * Binary layout (tensorFile.ts): magic `HDIMGM01`, the JSON header ({@link ImageCheckpointHeader}),
 * then the tensors in order: the parameters, then `adam.m.<name>`, `adam.v.<name>` and
 * `ema.<name>` for each.
 */
export const IMAGE_CHECKPOINT_FILE = 'checkpoint.bin';
export const IMAGE_CHECKPOINT_SIDECAR = 'checkpoint.json';
const MAGIC = 'HDIMGM01';
const SCHEMA = 'hierdiff.image-model-checkpoint';

export interface ImageCheckpointHeader {
  schema: typeof SCHEMA;
  version: 1;
  /** What is trained ('mnist-unet', 'mnist-classifier'). */
  model: string;
  /** The model's config and the run's settings: a resumed run must match both exactly. */
  config: unknown;
  settings: Record<string, number | string>;
  step: number;
  /** Training loss of every step done (length `step`). */
  losses: number[];
  /** Seconds of training so far (summed over resumed runs). */
  seconds: number;
  tensors: { name: string; shape: number[] }[];
}

export interface ImageCheckpoint {
  header: Omit<ImageCheckpointHeader, 'tensors' | 'schema' | 'version'>;
  params: Record<string, Param>;
  adamM: Record<string, Param>;
  adamV: Record<string, Param>;
  ema: Record<string, Param>;
}

/** Writes `dir/checkpoint.bin` then `dir/checkpoint.json`, atomically; `names` fixes the tensor order. */
export function writeImageCheckpoint(dir: string, names: string[], ck: ImageCheckpoint): void {
  const groups: [string, Record<string, Param>][] = [['', ck.params], ['adam.m.', ck.adamM], ['adam.v.', ck.adamV], ['ema.', ck.ema]];
  const tensors: NamedTensor[] = [];
  for (const [prefix, group] of groups) {
    for (const name of names) {
      const p = group[name];
      if (!p) throw new ParamError('params', `checkpoint: ${prefix}${name} is missing`);
      tensors.push({ name: prefix + name, shape: p.shape, data: p.data });
    }
  }
  writeTensorFile(dir, { file: IMAGE_CHECKPOINT_FILE, sidecar: IMAGE_CHECKPOINT_SIDECAR }, MAGIC, { schema: SCHEMA, version: 1, ...ck.header }, tensors);
}

export function hasImageCheckpoint(dir: string): boolean {
  return existsSync(join(dir, IMAGE_CHECKPOINT_FILE));
}

/** Reads `dir/checkpoint.bin`; ParamError (param `checkpoint`) for a missing, truncated or foreign file. */
export function readImageCheckpoint(dir: string): ImageCheckpoint {
  const path = join(dir, IMAGE_CHECKPOINT_FILE);
  const file = readTensorFile(path, MAGIC, 'hierdiff image-model checkpoint');
  const header = file.header as unknown as ImageCheckpointHeader;
  const bad = (why: string) => new ParamError('checkpoint', `invalid checkpoint "${path}" (${why})`);
  if (header.schema !== SCHEMA || header.version !== 1) throw bad(`schema ${String(header.schema)} version ${String(header.version)}`);
  if (!Number.isInteger(header.step) || !Array.isArray(header.losses) || header.losses.length !== header.step) throw bad('step and losses disagree');
  const ck: ImageCheckpoint = { header: { model: header.model, config: header.config, settings: header.settings, step: header.step, losses: header.losses, seconds: header.seconds }, params: {}, adamM: {}, adamV: {}, ema: {} };
  for (const { name, shape, data } of file.tensors) {
    const p = { shape, data };
    if (name.startsWith('adam.m.')) ck.adamM[name.slice(7)] = p;
    else if (name.startsWith('adam.v.')) ck.adamV[name.slice(7)] = p;
    else if (name.startsWith('ema.')) ck.ema[name.slice(4)] = p;
    else ck.params[name] = p;
  }
  return ck;
}
