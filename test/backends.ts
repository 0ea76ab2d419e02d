import type { BpBackend } from '../src/bp/types.ts';
import { referenceBackend } from '../src/bp/reference.ts';
import { FLOAT64_EXACT } from './tolerance.ts';

/**
 * Every BP implementation, with the tolerance its marginals must meet against brute force
 * (as a function of depth). The shared suite in bp.test.ts runs each one.
 */
export const BACKENDS: { backend: BpBackend; tolerance: (depth: number) => number }[] = [
  { backend: referenceBackend, tolerance: () => FLOAT64_EXACT },
];
