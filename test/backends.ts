import type { BpBackend } from '../src/bp/types.ts';
import { referenceBackend } from '../src/bp/reference.ts';
import { fast32Backend, fastBackend } from '../src/bp/fast.ts';
import { FLOAT64_EXACT, float32Tolerance } from './tolerance.ts';

/**
 * Every BP implementation, with the tolerance its marginals must meet against brute force
 * (as a function of depth). The shared suite in bp.test.ts runs each one.
 */
export const BACKENDS: { backend: BpBackend; tolerance: (depth: number) => number }[] = [
  { backend: referenceBackend, tolerance: () => FLOAT64_EXACT },
  { backend: fastBackend, tolerance: () => FLOAT64_EXACT },
  { backend: fast32Backend, tolerance: float32Tolerance },
];
