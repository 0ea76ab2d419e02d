/** Formats rows as a plain text table with right-aligned columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  return cells.map((r) => r.map((x, c) => x.padStart(widths[c])).join('  ')).join('\n') + '\n';
}

/** Fixed-point with `digits` decimals; '-' for null/NaN. */
export function fixed(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits);
}

/** CSV text with a header; values containing commas or quotes are quoted. */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const esc = (x: string | number | null) => {
    const s = x === null ? '' : String(x);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(esc).join(',')).join('\n') + '\n';
}

/**
 * A standard error or another spread, to `digits` significant digits (default 2), so a small value
 * never reads as zero: 0.0123 → "0.012", 0.00068 → "0.00068", 2.3e-5 → "2.3e-5" (below 1e-4 in
 * exponent form); exactly 0 → "0"; null/NaN (not estimable: fewer than two values) → "-".
 */
export function significant(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  const rounded = Number(x.toPrecision(digits));
  const exponent = Math.floor(Math.log10(Math.abs(rounded)));
  if (exponent < -4) return rounded.toExponential(digits - 1);
  return rounded.toFixed(Math.max(0, digits - 1 - exponent));
}
