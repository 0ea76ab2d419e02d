import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from '../../core/atomicWrite.ts';
import { ParamError } from '../../core/errors.ts';
import type { Param } from '../bpUnet.ts';

/**
 * Checkpoints of the image models' trainer (trainImageModel.ts): `checkpoint.bin` holds everything
 * needed to resume (parameters, Adam moments, the EMA weights, step, losses, the run's header) and
 * `checkpoint.json` the same header without tensors, both written atomically, the binary first.
 *
 * Binary layout: the 8 ASCII bytes `HDIMGM01`; a uint32 (little-endian) byte length H; H bytes of
 * UTF-8 JSON ({@link ImageCheckpointHeader}); zero padding to a multiple of 4; then the float32
 * little-endian data of every tensor of `header.tensors`, in order: the parameters, then
 * `adam.m.<name>`, `adam.v.<name>` and `ema.<name>` for each.
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
  if (endianness() !== 'LE') throw new Error('checkpoints need a little-endian machine');
  const groups: [string, Record<string, Param>][] = [['', ck.params], ['adam.m.', ck.adamM], ['adam.v.', ck.adamV], ['ema.', ck.ema]];
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const [prefix, group] of groups) {
    for (const name of names) {
      const p = group[name];
      if (!p) throw new ParamError('params', `checkpoint: ${prefix}${name} is missing`);
      tensors.push({ name: prefix + name, shape: p.shape, data: p.data });
    }
  }
  const header: ImageCheckpointHeader = { schema: SCHEMA, version: 1, ...ck.header, tensors: tensors.map(({ name, shape }) => ({ name, shape })) };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align4(12 + json.length);
  const buf = new Uint8Array(dataStart + 4 * tensors.reduce((a, t) => a + t.data.length, 0));
  buf.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(buf.buffer).setUint32(8, json.length, true);
  buf.set(json, 12);
  let offset = dataStart;
  for (const t of tensors) {
    buf.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += t.data.byteLength;
  }
  writeAtomic(join(dir, IMAGE_CHECKPOINT_FILE), buf);
  const { tensors: _omit, ...sidecar } = header;
  writeAtomic(join(dir, IMAGE_CHECKPOINT_SIDECAR), `${JSON.stringify(sidecar, null, 1)}\n`);
}

export function hasImageCheckpoint(dir: string): boolean {
  return existsSync(join(dir, IMAGE_CHECKPOINT_FILE));
}

/** Reads `dir/checkpoint.bin`; ParamError (param `checkpoint`) for a missing, truncated or foreign file. */
export function readImageCheckpoint(dir: string): ImageCheckpoint {
  const path = join(dir, IMAGE_CHECKPOINT_FILE);
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    throw new ParamError('checkpoint', `cannot read checkpoint "${path}"`);
  }
  const bad = (why: string) => new ParamError('checkpoint', `invalid checkpoint "${path}" (${why})`);
  if (raw.length < 12 || raw.subarray(0, 8).toString('latin1') !== MAGIC) throw bad('not a hierdiff image-model checkpoint');
  const headerLength = raw.readUInt32LE(8);
  if (12 + headerLength > raw.length) throw bad('truncated header');
  let header: ImageCheckpointHeader;
  try {
    header = JSON.parse(raw.subarray(12, 12 + headerLength).toString('utf8')) as ImageCheckpointHeader;
  } catch {
    throw bad('unreadable header');
  }
  if (header.schema !== SCHEMA || header.version !== 1) throw bad(`schema ${String(header.schema)} version ${String(header.version)}`);
  if (!Number.isInteger(header.step) || !Array.isArray(header.losses) || header.losses.length !== header.step) throw bad('step and losses disagree');
  const dataStart = align4(12 + headerLength);
  const floats = new Float32Array(Math.max(0, Math.floor((raw.length - dataStart) / 4)));
  new Uint8Array(floats.buffer).set(raw.subarray(dataStart, dataStart + floats.length * 4));
  const ck: ImageCheckpoint = { header: { model: header.model, config: header.config, settings: header.settings, step: header.step, losses: header.losses, seconds: header.seconds }, params: {}, adamM: {}, adamV: {}, ema: {} };
  let offset = 0;
  for (const { name, shape } of header.tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (offset + size > floats.length) throw bad('truncated data');
    const p = { shape: [...shape], data: floats.slice(offset, offset + size) };
    offset += size;
    if (name.startsWith('adam.m.')) ck.adamM[name.slice(7)] = p;
    else if (name.startsWith('adam.v.')) ck.adamV[name.slice(7)] = p;
    else if (name.startsWith('ema.')) ck.ema[name.slice(4)] = p;
    else ck.params[name] = p;
  }
  return ck;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
