import { ParamError } from './errors.ts';

/**
 * Shard `index` of `count` (0 ≤ index < count): the units of a run (a sweep's cells, an image run's
 * (image, step) pairs) whose canonical index ≡ index (mod count).
 */
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
 * Whether the unit at canonical position `index` belongs to `shard` (null: the whole run, every
 * unit). Round-robin rather than contiguous blocks, so the expensive units
 * (large-L cells, late steps) spread evenly over the shards.
 */
export function inShard(index: number, shard: Shard | null): boolean {
  return shard === null || index % shard.count === shard.index;
}

/** Where `--shard auto` finds its index and count: the environment of a job array's task. */
export interface ShardEnvironment {
  readonly SLURM_ARRAY_TASK_ID?: string;
  readonly SLURM_ARRAY_TASK_COUNT?: string;
  readonly JOB_COMPLETION_INDEX?: string;
}

/**
 * The shard of this job array task: `SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT` (Slurm), or
 * Kubernetes' `JOB_COMPLETION_INDEX` of `count` (an Indexed Job has no count variable). A given
 * `count` wins over Slurm's, so a hand-resubmitted subset of the array (`sbatch --array=1`, whose
 * task count is 1) still runs shard 1 of the whole sweep.
 */
export function shardFromEnvironment(env: ShardEnvironment, count: number | null): Shard {
  const index = env.SLURM_ARRAY_TASK_ID ?? env.JOB_COMPLETION_INDEX;
  const indexName = env.SLURM_ARRAY_TASK_ID !== undefined ? 'SLURM_ARRAY_TASK_ID' : 'JOB_COMPLETION_INDEX';
  if (index === undefined) {
    throw new ParamError('shard', 'invalid --shard auto outside a job array (neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set; give --shard i/N)');
  }
  let total = count;
  if (total === null) {
    if (env.SLURM_ARRAY_TASK_ID === undefined || env.SLURM_ARRAY_TASK_COUNT === undefined) {
      throw new ParamError('shard-count', `invalid --shard auto without --shard-count (${indexName} is set but no task count: give --shard-count N)`);
    }
    total = /^\d+$/.test(env.SLURM_ARRAY_TASK_COUNT) ? Number(env.SLURM_ARRAY_TASK_COUNT) : NaN;
  }
  const i = /^\d+$/.test(index) ? Number(index) : NaN;
  if (!(total >= 1 && total <= 100000) || !(i < total)) {
    throw new ParamError('shard', `invalid --shard auto: ${indexName}=${index} of ${String(total)} tasks (expected 0 <= index < count <= 100000)`);
  }
  return { index: i, count: total };
}
