import type { FloatArray } from '../types.ts';
import type { KernelInstance, Precision, Ptr } from './kernels.ts';

/**
 * Bump allocator over the kernels' memory for one call: plan every region, then `commit` grows
 * the memory once (growing detaches views, so views are made only after it). Everything is
 * released when the call returns (results are copied out), so calls never share state.
 */
export class Arena {
  private top: number;
  constructor(private readonly x: KernelInstance) {
    this.top = x.heapBase();
  }
  alloc(bytes: number): Ptr {
    const p = Math.ceil(this.top / 64) * 64;
    this.top = p + Math.max(bytes, 0);
    return p;
  }
  commit(): void {
    const need = this.top - this.x.memory.buffer.byteLength;
    if (need > 0) this.x.memory.grow(Math.ceil(need / 65536));
  }
  f64(p: Ptr, n: number): Float64Array {
    return new Float64Array(this.x.memory.buffer, p, n);
  }
  f32(p: Ptr, n: number): Float32Array {
    return new Float32Array(this.x.memory.buffer, p, n);
  }
  i32(p: Ptr, n: number): Int32Array {
    return new Int32Array(this.x.memory.buffer, p, n);
  }
  bytes(p: Ptr, n: number): Uint8Array {
    return new Uint8Array(this.x.memory.buffer, p, n);
  }
  floats(precision: Precision, p: Ptr, n: number): FloatArray {
    return precision === 'f64' ? this.f64(p, n) : this.f32(p, n);
  }
}
