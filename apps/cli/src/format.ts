/** Number, duration and table formatting for human-readable output. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

export function count(n: number | bigint): string {
  return integer.format(n);
}

export function seconds(ms: number): string {
  return `${oneDecimal.format(ms / 1000)} s`;
}

export function millis(ms: number): string {
  return ms >= 10_000 ? seconds(ms) : `${integer.format(ms)} ms`;
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '0.0%' : `${oneDecimal.format((100 * part) / whole)}%`;
}

/** Aligns rows in columns: the first column left, the others right (or all left, for key–value lists). */
export function table(rows: string[][], indent = '  ', align: 'numbers' | 'left' = 'numbers'): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) =>
            i === 0 || align === 'left' ? padEnd(cell, widths[i]!) : padStart(cell, widths[i]!),
          )
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}
function padEnd(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - visibleLength(s)));
}
function padStart(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - visibleLength(s))) + s;
}
