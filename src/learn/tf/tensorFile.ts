import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from '../../core/atomicWrite.ts';
import { ParamError } from '../../core/errors.ts';
import type { Param } from '../bpUnet.ts';

/**
 * The binary layout of the trainers' checkpoints (tf/checkpoint.ts, tf/imageCheckpoint.ts): an
 * 8-byte ASCII magic; a uint32 (little-endian) byte length H; H bytes of UTF-8 JSON (the header,
 * whose `tensors` lists name and shape of every tensor); zero padding to a multiple of 4 bytes; then
 * the float32 little-endian data of those tensors in order, row-major. Beside it a JSON sidecar
 * holds the header without `tensors`. Both are written atomically, the binary first, so the binary
 * is always complete and is the one that resuming reads.
 */
export interface NamedTensor extends Param {
  name: string;
}

/** Writes `dir/<file>` (binary) then `dir/<sidecar>` (JSON), atomically. */
export function writeTensorFile(dir: string, files: { file: string; sidecar: string }, magic: string, header: Record<string, unknown>, tensors: NamedTensor[]): void {
  checkLittleEndian();
  const full = { ...header, tensors: tensors.map(({ name, shape }) => ({ name, shape })) };
  const json = new TextEncoder().encode(JSON.stringify(full));
  const dataStart = align4(12 + json.length);
  const buf = new Uint8Array(dataStart + 4 * tensors.reduce((a, t) => a + t.data.length, 0));
  buf.set(new TextEncoder().encode(magic), 0);
  new DataView(buf.buffer).setUint32(8, json.length, true);
  buf.set(json, 12);
  let offset = dataStart;
  for (const t of tensors) {
    buf.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += t.data.byteLength;
  }
  writeAtomic(join(dir, files.file), buf);
  writeAtomic(join(dir, files.sidecar), `${JSON.stringify(header, null, 1)}\n`);
}

/**
 * Reads `path`: the JSON header (with its `tensors` list) and the tensors. ParamError (param
 * `checkpoint`) for a missing file, another magic (`what` names the expected kind), a truncated or
 * unreadable header, or truncated data.
 */
export function readTensorFile(path: string, magic: string, what: string): { header: Record<string, unknown>; tensors: NamedTensor[] } {
  checkLittleEndian();
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    throw new ParamError('checkpoint', `cannot read checkpoint "${path}"`);
  }
  const bad = (why: string) => new ParamError('checkpoint', `invalid checkpoint "${path}" (${why})`);
  if (raw.length < 12 || raw.subarray(0, 8).toString('latin1') !== magic) throw bad(`not a ${what}`);
  const headerLength = raw.readUInt32LE(8);
  if (12 + headerLength > raw.length) throw bad('truncated header');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(raw.subarray(12, 12 + headerLength).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('unreadable header');
  }
  const list = header.tensors;
  if (!Array.isArray(list)) throw bad('no tensor list');
  // Copy the data into an aligned buffer: a Buffer's byteOffset need not be a multiple of 4.
  const dataStart = align4(12 + headerLength);
  const floats = new Float32Array(Math.max(0, Math.floor((raw.length - dataStart) / 4)));
  new Uint8Array(floats.buffer).set(raw.subarray(dataStart, dataStart + floats.length * 4));
  const tensors: NamedTensor[] = [];
  let offset = 0;
  for (const { name, shape } of list as { name: string; shape: number[] }[]) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (offset + size > floats.length) throw bad('truncated data');
    tensors.push({ name, shape: [...shape], data: floats.slice(offset, offset + size) });
    offset += size;
  }
  return { header, tensors };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function checkLittleEndian(): void {
  // The float32 data are copied as raw bytes of Float32Arrays, i.e. in the machine's byte order.
  if (endianness() !== 'LE') throw new Error('checkpoints need a little-endian machine');
}
