import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from '../core/atomicWrite.ts';
import { ParamError } from '../core/errors.ts';
import { sizeOf, type NamedParams, type ParamShapes } from './params.ts';

/**
 * The one checkpoint format of every model trained here: `checkpoint.bin`, everything needed to
 * resume, and `checkpoint.json`, the same header without the tensor list, for people and tools.
 * Both are written atomically (temp file + rename), the binary first, so the binary is always
 * complete and is the one that resuming reads.
 *
 * Binary layout: the 8 ASCII bytes `HDCKPT02`; a uint32 (little-endian) byte length H; H bytes of
 * UTF-8 JSON ({@link CheckpointHeader}); zero padding to a multiple of 4 bytes; then the float32
 * (little-endian) data of every tensor of `header.tensors`, in order, row-major: the parameters
 * (the model's names and shapes, in its order), then `adam.m.<name>`, `adam.v.<name>` and
 * `ema.<name>` for each parameter.
 */

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const CHECKPOINT_SIDECAR = 'checkpoint.json';
export const CHECKPOINT_FORMAT = 'hierdiff.checkpoint';
export const CHECKPOINT_VERSION = 2;
const MAGIC = 'HDCKPT02';

/** The JSON header of a checkpoint (the sidecar holds it without `tensors`). */
export interface CheckpointHeader {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** What is trained, e.g. 'mnist-unet', 'bpunet'. */
  model: string;
  config: unknown;
  /** Settings a resumed run must share (seed, batch, lr, data, …). */
  settings: Record<string, number | string>;
  /** Optimisation steps done (= Adam's step count). */
  step: number;
  /** Training loss of every step done (length `step`). */
  losses: number[];
  /** Training seconds, summed over resumed runs. */
  seconds: number;
  /** The run's monitored metric (e.g. a held-out loss) at the steps it was measured, if it has one. */
  monitor?: MonitorPoint[];
  tensors?: { name: string; shape: number[] }[];
}

/** A monitored metric at one step (nn/train.ts `monitor`). */
export interface MonitorPoint {
  step: number;
  value: number;
}

/** A run's state after `step` steps. */
export interface Checkpoint {
  header: Omit<CheckpointHeader, 'format' | 'version' | 'tensors'>;
  params: NamedParams;
  adamM: NamedParams;
  adamV: NamedParams;
  ema: NamedParams;
}

const GROUPS = [
  ['', 'params'],
  ['adam.m.', 'adamM'],
  ['adam.v.', 'adamV'],
  ['ema.', 'ema'],
] as const;

/** Writes `dir/checkpoint.bin` then `dir/checkpoint.json`, atomically (ParamError 'out' if the folder cannot be written). */
export function writeCheckpoint(dir: string, shapes: ParamShapes, ck: Checkpoint): void {
  checkLittleEndian();
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const [prefix, key] of GROUPS) for (const [name, shape] of shapes) tensors.push({ name: prefix + name, shape, data: ck[key][name].data });
  const header: CheckpointHeader = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...ck.header };
  const json = new TextEncoder().encode(JSON.stringify({ ...header, tensors: tensors.map(({ name, shape }) => ({ name, shape })) }));
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
  writeAtomic(join(dir, CHECKPOINT_FILE), buf);
  writeAtomic(join(dir, CHECKPOINT_SIDECAR), `${JSON.stringify(header, null, 1)}\n`);
}

/** Whether `dir` holds a checkpoint (its binary file). */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/**
 * Reads `dir/checkpoint.bin` for a model with parameters `shapes`. ParamError (param
 * 'checkpoint') naming the file for a missing, truncated or foreign file, another format
 * version, or tensors that are not the model's.
 */
export function readCheckpoint(dir: string, shapes: ParamShapes): Checkpoint {
  checkLittleEndian();
  const path = join(dir, CHECKPOINT_FILE);
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    throw new ParamError('checkpoint', `cannot read checkpoint "${path}"`);
  }
  const bad = (why: string) => new ParamError('checkpoint', `invalid checkpoint "${path}" (${why})`);
  if (raw.length < 12) throw bad('not a hierdiff checkpoint');
  const magic = raw.subarray(0, 8).toString('latin1');
  if (magic !== MAGIC) throw bad(magic.startsWith('HD') ? `format ${magic} is not ${MAGIC}: written by another version of hierdiff; start afresh without --resume` : 'not a hierdiff checkpoint');
  const headerLength = raw.readUInt32LE(8);
  if (12 + headerLength > raw.length) throw bad('truncated header');
  let header: CheckpointHeader;
  try {
    header = JSON.parse(raw.subarray(12, 12 + headerLength).toString('utf8')) as CheckpointHeader;
  } catch {
    throw bad('unreadable header');
  }
  if (header.format !== CHECKPOINT_FORMAT || header.version !== CHECKPOINT_VERSION) throw bad(`format ${String(header.format)} version ${String(header.version)}`);
  if (!Number.isInteger(header.step) || header.step < 0 || !Array.isArray(header.losses) || header.losses.length !== header.step) throw bad('step and losses disagree');
  const list = header.tensors ?? [];
  const expected = GROUPS.flatMap(([prefix]) => shapes.map(([name, shape]) => `${prefix}${name}:${shape.join('x')}`));
  if (list.map((t) => `${t.name}:${t.shape.join('x')}`).join(',') !== expected.join(',')) throw bad(`its tensors are not those of this model`);
  const dataStart = align4(12 + headerLength);
  const total = list.reduce((a, t) => a + sizeOf(t.shape), 0);
  if (dataStart + 4 * total > raw.length) throw bad('truncated data');
  // Copied into an aligned buffer: a Buffer's byteOffset need not be a multiple of 4.
  const floats = new Float32Array(total);
  new Uint8Array(floats.buffer).set(raw.subarray(dataStart, dataStart + 4 * total));
  const ck: Checkpoint = {
    header: {
      model: header.model,
      config: header.config,
      settings: header.settings,
      step: header.step,
      losses: header.losses,
      seconds: header.seconds,
      ...(Array.isArray(header.monitor) ? { monitor: header.monitor } : {}),
    },
    params: {},
    adamM: {},
    adamV: {},
    ema: {},
  };
  let offset = 0;
  for (const [, key] of GROUPS) {
    for (const [name, shape] of shapes) {
      const size = sizeOf(shape);
      ck[key][name] = { shape: [...shape], data: floats.slice(offset, offset + size) };
      offset += size;
    }
  }
  return ck;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function checkLittleEndian(): void {
  // The float32 data are copied as raw bytes of Float32Arrays, i.e. in the machine's byte order.
  if (endianness() !== 'LE') throw new Error('checkpoints need a little-endian machine');
}
