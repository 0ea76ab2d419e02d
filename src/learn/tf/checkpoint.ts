import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ParamError } from '../../core/errors.ts';
import { paramShapes, validateBpUnetConfig, type BpUnetConfig, type BpUnetParams } from '../bpUnet.ts';
import { readTensorFile, writeTensorFile, type NamedTensor } from './tensorFile.ts';

/**
 * The trainer's checkpoint: one binary file `checkpoint.bin` (everything needed to resume:
 * parameters, Adam moments, step, loss curve, the run's settings) and a JSON sidecar
 * `checkpoint.json` (the same header without the tensors, for people and tools). Both are written
 * atomically (temp file + rename), the binary first, so the binary is always complete and is the
 * one that resuming reads.
 *
 * Binary layout: the 8 ASCII bytes `HDBPUN01`; a uint32 (little-endian) byte length H; H bytes of
 * UTF-8 JSON ({@link CheckpointHeader}); zero padding to a multiple of 4 bytes; then the float32
 * (little-endian) data of every tensor listed in `header.tensors`, in that order, row-major:
 * the parameters (names and PyTorch shapes of bpUnet.ts's paramShapes), then `adam.m.<name>` and
 * `adam.v.<name>` for each parameter.
 */

/** File name of the binary checkpoint inside a checkpoint folder. */
export const CHECKPOINT_FILE = 'checkpoint.bin';
/** File name of the JSON sidecar. */
export const CHECKPOINT_SIDECAR = 'checkpoint.json';
/** `schema` of the header. */
export const CHECKPOINT_SCHEMA = 'hierdiff.bpunet-checkpoint';
export const CHECKPOINT_VERSION = 1;

const MAGIC = 'HDBPUN01';

/** The settings a resumed run must share with the run that wrote the checkpoint. */
export interface TrainSettings {
  seed: number;
  batch: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** The training schedule's T, β₁, β₂. */
  schedule: { steps: number; betaStart: number; betaEnd: number };
  /** Number of training datums and an FNV-1a hash of their tokens. */
  dataCount: number;
  dataHash: string;
}

/** The JSON header of a checkpoint's binary file; the sidecar holds the same without `tensors`. */
export interface CheckpointHeader {
  schema: typeof CHECKPOINT_SCHEMA;
  version: number;
  config: BpUnetConfig;
  /** Optimisation steps done (= Adam's step count). */
  step: number;
  settings: TrainSettings;
  /** Training loss of each step done so far (length `step`). */
  losses: number[];
  /** Tensors stored after the header, in order. */
  tensors: { name: string; shape: number[] }[];
}

/**
 * A checkpoint in memory: the run's state after `step` steps. Parameters and Adam's first (m) and
 * second (v) moments use bpUnet.ts's names and PyTorch shapes.
 */
export interface Checkpoint {
  config: BpUnetConfig;
  /** Optimisation steps done (= Adam's step count). */
  step: number;
  settings: TrainSettings;
  /** Training loss of each step done so far (length `step`). */
  losses: number[];
  params: BpUnetParams;
  adamM: BpUnetParams;
  adamV: BpUnetParams;
}

/**
 * FNV-1a (32-bit) over the int32 tokens, as 8 hex digits: a cheap guard against resuming on
 * other data.
 */
export function hashTokens(tokens: Int32Array): string {
  let h = 0x811c9dc5;
  const bytes = new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * Writes `checkpoint.bin` then `checkpoint.json` into `dir` (created if needed), each atomically.
 * Throws a ParamError (param `out`) if the folder cannot be written.
 */
export function writeCheckpoint(dir: string, ck: Checkpoint): void {
  const names = paramShapes(ck.config).map(([name]) => name);
  const groups: [string, BpUnetParams][] = [['', ck.params], ['adam.m.', ck.adamM], ['adam.v.', ck.adamV]];
  const tensors: NamedTensor[] = [];
  for (const [prefix, group] of groups) {
    for (const name of names) {
      const p = group[name];
      if (!p) throw new ParamError('params', `checkpoint: ${prefix}${name} is missing`);
      tensors.push({ name: prefix + name, shape: p.shape, data: p.data });
    }
  }
  const header = { schema: CHECKPOINT_SCHEMA, version: CHECKPOINT_VERSION, config: ck.config, step: ck.step, settings: ck.settings, losses: ck.losses };
  writeTensorFile(dir, { file: CHECKPOINT_FILE, sidecar: CHECKPOINT_SIDECAR }, MAGIC, header, tensors);
}

/** Whether `dir` holds a checkpoint (its binary file). */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/**
 * Reads `dir/checkpoint.bin`: returns the run's state (config, step, settings, losses), the
 * parameters (PyTorch layout, bpUnet.ts names and order) and Adam's moments. Throws a ParamError (param `checkpoint`) for a missing, truncated or
 * foreign file.
 */
export function readCheckpoint(dir: string): Checkpoint {
  const path = join(dir, CHECKPOINT_FILE);
  const file = readTensorFile(path, MAGIC, 'hierdiff bpUNet checkpoint');
  const header = file.header as unknown as CheckpointHeader;
  const bad = (why: string) => new ParamError('checkpoint', `invalid checkpoint "${path}" (${why})`);
  if (header.schema !== CHECKPOINT_SCHEMA || header.version !== CHECKPOINT_VERSION) throw bad(`schema ${header.schema} version ${header.version}`);
  validateBpUnetConfig(header.config);
  if (!Number.isInteger(header.step) || header.step < 0 || !Array.isArray(header.losses) || header.losses.length !== header.step) throw bad('step and losses disagree');
  const ck: Checkpoint = { config: header.config, step: header.step, settings: header.settings, losses: header.losses, params: {}, adamM: {}, adamV: {} };
  for (const { name, shape, data } of file.tensors) {
    const p = { shape, data };
    if (name.startsWith('adam.m.')) ck.adamM[name.slice(7)] = p;
    else if (name.startsWith('adam.v.')) ck.adamV[name.slice(7)] = p;
    else ck.params[name] = p;
  }
  // Rebuild each group in paramShapes order, checking that every tensor is there.
  const ordered = (group: BpUnetParams): BpUnetParams => {
    const out: BpUnetParams = {};
    for (const [name, shape] of paramShapes(header.config)) {
      const p = group[name];
      if (!p || p.shape.join(',') !== shape.join(',')) throw bad(`tensor ${name} missing or of the wrong shape`);
      out[name] = p;
    }
    return out;
  };
  return { ...ck, params: ordered(ck.params), adamM: ordered(ck.adamM), adamV: ordered(ck.adamV) };
}
