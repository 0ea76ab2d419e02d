import { ParamError } from '../core/errors.ts';
import type { SweepCell } from './cells.ts';

/** Shard `index` of `count` (0 ≤ index < count): a deterministic subset of a sweep's cells. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * Parses `i/N` (0-based, 0 ≤ i < N ≤ 100000), the form a Slurm array (`$SLURM_ARRAY_TASK_ID`
 * with `--array=0-(N-1)`) or a Kubernetes Indexed Job (`$JOB_COMPLETION_INDEX`) hands over.
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1 && count <= 100000) || !(index < count)) {
    throw new ParamError('shard', `invalid --shard "${text}" (expected i/N with 0 <= i < N, e.g. 0/4)`);
  }
  return { index, count };
}

/** Checks a shard given as a record (programmatic use). */
export function checkShard(shard: Shard): Shard {
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || count > 100000 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new ParamError('shard', `invalid shard ${String(index)}/${String(count)} (expected i/N with 0 <= i < N)`);
  }
  return { index, count };
}

/**
 * The cells of one shard: those whose canonical index ≡ shard index (mod N). Round-robin rather
 * than contiguous blocks, so the expensive large-L cells spread evenly over the shards.
 */
export function shardCells(cells: readonly SweepCell[], shard: Shard | null): SweepCell[] {
  if (shard === null) return [...cells];
  return cells.filter((c) => c.index % shard.count === shard.index);
}
