import type { Grammar } from '../grammar/grammar.ts';
import type { ProcessName } from '../noise/process.ts';
import type { CellStats } from './cell.ts';
import { runCell, type CellOptions, type CellSpec } from './forwardBackward.ts';

/** A grid of forward–backward cells: grammar seeds × depths × processes × noise levels. */
export interface GridSpec {
  readonly grammarSeeds: readonly number[];
  readonly depths: readonly number[];
  readonly processes: readonly ProcessName[];
  readonly noises: readonly number[];
}

/** The cells of a grid in canonical order (grammar seed, depth, process, noise). */
export function gridCells(spec: GridSpec): CellSpec[] {
  const cells: CellSpec[] = [];
  for (const grammarSeed of spec.grammarSeeds)
    for (const depth of spec.depths)
      for (const process of spec.processes) for (const noise of spec.noises) cells.push({ grammarSeed, depth, process, noise });
  return cells;
}

export interface GridProgress {
  cellsDone: number;
  cellsTotal: number;
  samplesDone: number;
  samplesTotal: number;
}

/**
 * Runs every cell of a grid in order on this thread. `grammarFor` supplies the grammar of a
 * (grammar seed, depth) pair, e.g. `sampleRules` or a grammar loaded from a file.
 */
export function runGrid(
  grammarFor: (grammarSeed: number, depth: number) => Grammar,
  spec: GridSpec,
  options: Omit<CellOptions, 'onProgress'>,
  onProgress?: (p: GridProgress) => void,
): CellStats[] {
  const cells = gridCells(spec);
  const samplesTotal = cells.length * options.samples;
  const out: CellStats[] = [];
  const cache = new Map<string, Grammar>();
  cells.forEach((cell, index) => {
    const key = `${cell.grammarSeed}|${cell.depth}`;
    let g = cache.get(key);
    if (!g) {
      g = grammarFor(cell.grammarSeed, cell.depth);
      cache.set(key, g);
    }
    const before = index * options.samples;
    out.push(
      runCell(g, cell, {
        ...options,
        onProgress: (done) => onProgress?.({ cellsDone: index, cellsTotal: cells.length, samplesDone: before + done, samplesTotal }),
      }),
    );
    onProgress?.({ cellsDone: index + 1, cellsTotal: cells.length, samplesDone: before + options.samples, samplesTotal });
  });
  return out;
}
