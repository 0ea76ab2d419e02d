/** Sweeps: grids of forward–backward cells on worker threads, sharding, resume, results files. */
export { validateSweepConfig, samplesAtDepth, grammarSeeds, configDifference, type SweepConfig, type SweepConfigInput } from './config.ts';
export { sweepCells, cellKey, shardCells, type SweepCell } from './cells.ts';
export { parseShard, checkShard, type Shard } from '../core/shard.ts';
export { runSweep, type RunSweepOptions, type SweepProgress, type SweepResult } from './runSweep.ts';
export { readSweepFile, scanSweepFile, SWEEP_FORMAT, type SweepFile, type SweepHeader, type SweepRunInfo, type SweepCellLine } from './resultsFile.ts';
export { mergeSweepFiles, type MergeResult } from './merge.ts';
export { runSweepTask, type SweepTask } from './task.ts';
