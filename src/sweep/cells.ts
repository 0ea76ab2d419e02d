import { inShard, type Shard } from '../core/shard.ts';
import type { CellSpec } from '../experiment/forwardBackward.ts';
import { grammarSeeds, samplesAtDepth, type SweepConfig } from './config.ts';

/** One cell of a sweep, with its place in the canonical order and its data count. */
export interface SweepCell extends CellSpec {
  /** Position in the canonical order of the whole (unsharded) sweep, from 0. */
  readonly index: number;
  /** Stable key, see {@link cellKey}. */
  readonly key: string;
  /** N for this cell (per-depth override applied). */
  readonly samples: number;
}

/**
 * The stable key of a cell: `s<grammar seed>/L<depth>/<process>/<noise>`, the noise level as
 * JavaScript prints it (shortest round-trip form), e.g. `s0/L4/mask/0.25`. It names the cell in
 * results files; it does not depend on the sweep's shape, so it survives regridding. The levels of
 * a sweep differ in their key (noise/level.ts noiseKey), so in this printed form too.
 */
export function cellKey(cell: Pick<CellSpec, 'grammarSeed' | 'depth' | 'process' | 'noise'>): string {
  return `s${cell.grammarSeed}/L${cell.depth}/${cell.process}/${String(cell.noise)}`;
}

/**
 * Every cell of a sweep in canonical order: grammar seed (ascending), then depth, process and
 * noise level in the order the config gives them. Results files list cells in this order.
 */
export function sweepCells(config: SweepConfig): SweepCell[] {
  const cells: SweepCell[] = [];
  for (const grammarSeed of grammarSeeds(config))
    for (const depth of config.depths) {
      const samples = samplesAtDepth(config, depth);
      for (const process of config.processes)
        for (const noise of config.noiseLevels[process] ?? []) {
          const spec = { grammarSeed, depth, process, noise };
          cells.push({ ...spec, index: cells.length, key: cellKey(spec), samples });
        }
    }
  return cells;
}

/** The cells of one shard (src/core/shard.ts): those whose canonical index ≡ shard index (mod N). */
export function shardCells(cells: readonly SweepCell[], shard: Shard | null): SweepCell[] {
  return cells.filter((c) => inShard(c.index, shard));
}
