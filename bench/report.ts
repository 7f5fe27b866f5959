// What the benches that run steps in child processes share: the statistics of step times, the plain-text
// tables they print, and reading a child's answer or why it gave none.
import type { spawnSync } from 'node:child_process';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The nearest-rank percentile: with few steps, p90 is the slowest. */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)]!;
}

export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

export function failureReason(run: ReturnType<typeof spawnSync>): string {
  if (run.error) {
    return run.error.message;
  }
  if (run.signal) {
    return `killed by ${run.signal}${run.signal === 'SIGTERM' ? ' (timed out)' : ''}`;
  }
  return thrownError(String(run.stderr)) || `exit code ${run.status}`;
}

/**
 * What a crashed process threw: the message that opens its stack trace in stderr (up to three lines), or its
 * last line; Node ends an uncaught error's report with its own version, which says nothing.
 */
function thrownError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const start = lines.findIndex((line) => /^\w*(Error|Exception)\b/.test(line));
  if (start < 0) {
    return lines.at(-1) ?? '';
  }
  const end = lines.findIndex((line, index) => index > start && /^\s+at /.test(line));
  return lines
    .slice(start, Math.min(end < 0 ? lines.length : end, start + 3))
    .join(' ')
    .trim();
}

export function formatNumber(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

/** Prints rows under a header, the first `leftAligned` columns padded on the right, the others on the left. */
export function printTable(header: string[], rows: string[][], leftAligned: number): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column < leftAligned ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  console.log(line(header));
  for (const row of rows) {
    console.log(line(row));
  }
}
