import type { CellStats } from '../experiment/cell.ts';
import { rowKey, summariseCells, type ForwardBackwardRow } from '../experiment/summary.ts';

/** A summarised row plus what the report adds: the standard error of χ across grammar seeds. */
export type ReportRow = ForwardBackwardRow & {
  /** sd of the per-grammar χ over √(grammars); null with one grammar seed or no χ. */
  chiSE: number | null;
};

/**
 * Pools cells into rows (SPEC §4, {@link summariseCells}) and adds χ's standard error, estimated
 * from its spread over grammar seeds (χ is a ratio of sums, so it has no per-datum variance).
 */
export function reportRows(cells: readonly CellStats[]): ReportRow[] {
  const byKey = new Map<string, CellStats[]>();
  for (const c of cells) {
    const k = rowKey(c);
    const list = byKey.get(k);
    if (list) list.push(c);
    else byKey.set(k, [c]);
  }
  return summariseCells(cells).map((row) => {
    const group = byKey.get(rowKey(row)) ?? [];
    const chis = group.filter((c) => c.trajectories >= 2 && c.chiDenominator > 0).map((c) => c.chiNumerator / c.chiDenominator);
    let chiSE: number | null = null;
    if (row.chi !== null && chis.length >= 2) {
      const m = chis.reduce((a, b) => a + b, 0) / chis.length;
      chiSE = Math.sqrt(chis.reduce((a, x) => a + (x - m) ** 2, 0) / (chis.length - 1) / chis.length);
    }
    return { ...row, chiSE };
  });
}
