import type { PassPrecision } from '../logDomain.ts';
import { KERNELS_WASM_BASE64 } from '../wasm/kernelsBinary.ts';

/** Float precision of a fast path. */
export type Precision = PassPrecision;

/** A byte offset into the kernels' memory. */
export type Ptr = number;

/** The few WebAssembly JS-API members used here (tsconfig's lib has no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WASM = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The entry points of kernels.as that exist in both precisions (exported with suffix 64 and 32). */
export interface Kernels {
  leaves(lam: Ptr, dst: Ptr, d: number, i0: number, i1: number, v: number, T: number, real: number, zprod: Ptr, zexp: Ptr, zdef: Ptr): void;
  upward(
    child: Ptr,
    parent: Ptr,
    rules: Ptr,
    off: Ptr,
    zs: Ptr,
    p0: number,
    width: number,
    N: number,
    m: number,
    v: number,
    s: number,
    T: number,
    real: number,
    zprod: Ptr,
    zexp: Ptr,
    zdef: Ptr,
  ): void;
  sampleRoot(root: Ptr, N: number, u: Ptr, out: Ptr, w: Ptr, n0: number, real: number, K: number, T: number): void;
  sampleLevel(
    below: Ptr,
    rules: Ptr,
    parents: Ptr,
    prs: number,
    pns: number,
    children: Ptr,
    crs: number,
    cns: number,
    u: Ptr,
    urs: number,
    uns: number,
    w: Ptr,
    n0: number,
    real: number,
    K: number,
    width: number,
    v: number,
    m: number,
    s: number,
    T: number,
  ): void;
  downward(down: Ptr, below: Ptr, childDown: Ptr, rules: Ptr, off: Ptr, width: number, N: number, m: number, v: number, s: number, T: number): void;
  marginals(childDown: Ptr, below: Ptr, nodes: number, v: number, T: number, real: number, n0: number, truth: Ptr, kept: Ptr, muOut: Ptr, zs: Ptr): void;
  toDatumMajor(src: Ptr, dst: Ptr, nodes: number, N: number, T: number, real: number, n0: number): void;
  fromDatumMajor(src: Ptr, dst: Ptr, nodes: number, N: number, T: number, real: number, n0: number): void;
  fill(dst: Ptr, rows: number, T: number, value: number): void;
  tokenLeaves(tok: Ptr, d: number, i0: number, i1: number, v: number, T: number, real: number, zt: Ptr, loT: Ptr, hiT: Ptr, tokL: Ptr, loL: Ptr, hiL: Ptr, dst: Ptr, zprod: Ptr, zexp: Ptr): void;
  sampleLeavesTokens(
    tokL: Ptr,
    loL: Ptr,
    hiL: Ptr,
    rules: Ptr,
    parents: Ptr,
    prs: number,
    pns: number,
    children: Ptr,
    crs: number,
    cns: number,
    u: Ptr,
    urs: number,
    uns: number,
    w: Ptr,
    n0: number,
    real: number,
    K: number,
    width: number,
    m: number,
    T: number,
  ): void;
  pairTable(loT: Ptr, hiT: Ptr, rules: Ptr, N: number, m: number, v: number, table: Ptr): void;
  samplePairs(
    table: Ptr,
    tokL: Ptr,
    rules: Ptr,
    parents: Ptr,
    prs: number,
    pns: number,
    children: Ptr,
    crs: number,
    cns: number,
    u: Ptr,
    urs: number,
    uns: number,
    w: Ptr,
    n0: number,
    real: number,
    K: number,
    width: number,
    N: number,
    v: number,
    m: number,
    T: number,
  ): void;
}

/** The exports of kernels.as (pointers are byte offsets into `memory`). */
type KernelExports = { [K in keyof Kernels as `${K}64` | `${K}32`]: Kernels[K] } & {
  memory: WasmMemory;
  heapBase(): Ptr;
  transpose(src: Ptr, dst: Ptr, rows: number, width: number, srs: number, sns: number, drs: number, dns: number, bytes: number): void;
};

/** One thread's instance of the kernels: its memory, the precision-free exports and a table per precision. */
export interface KernelInstance {
  readonly memory: WasmMemory;
  heapBase(): Ptr;
  /** Copies `rows` rows of `width` elements of `bytes` bytes between strided layouts. */
  transpose: KernelExports['transpose'];
  readonly f64: Kernels;
  readonly f32: Kernels;
}

let compiled: object | null = null;
let instance: KernelInstance | null = null;

function decodeBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** This thread's instance of the kernels (compiled once per thread from the embedded binary). */
export function kernels(): KernelInstance {
  if (!instance) {
    compiled ??= new WASM.Module(decodeBase64(KERNELS_WASM_BASE64));
    const x = new WASM.Instance(compiled, {
      env: {
        abort: () => {
          throw new Error('BP kernel aborted');
        },
      },
    }).exports as unknown as KernelExports;
    instance = {
      memory: x.memory,
      heapBase: x.heapBase,
      transpose: x.transpose,
      f64: {
        leaves: x.leaves64,
        upward: x.upward64,
        sampleRoot: x.sampleRoot64,
        sampleLevel: x.sampleLevel64,
        downward: x.downward64,
        marginals: x.marginals64,
        toDatumMajor: x.toDatumMajor64,
        fromDatumMajor: x.fromDatumMajor64,
        fill: x.fill64,
        tokenLeaves: x.tokenLeaves64,
        sampleLeavesTokens: x.sampleLeavesTokens64,
        pairTable: x.pairTable64,
        samplePairs: x.samplePairs64,
      },
      f32: {
        leaves: x.leaves32,
        upward: x.upward32,
        sampleRoot: x.sampleRoot32,
        sampleLevel: x.sampleLevel32,
        downward: x.downward32,
        marginals: x.marginals32,
        toDatumMajor: x.toDatumMajor32,
        fromDatumMajor: x.fromDatumMajor32,
        fill: x.fill32,
        tokenLeaves: x.tokenLeaves32,
        sampleLeavesTokens: x.sampleLeavesTokens32,
        pairTable: x.pairTable32,
        samplePairs: x.samplePairs32,
      },
    };
  }
  return instance;
}
