import { formatBytes } from '../core/config/units.js';

export interface OutputArgs {
  json?: boolean | undefined;
}

/** Data goes to stdout: JSON when asked or piped, a readable rendering on a terminal. */
export function wantsJson(args: OutputArgs): boolean {
  return args.json === true || !process.stdout.isTTY;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  process.stdout.write(`${formatTable(headers, rows).join('\n')}\n`);
}

/** The lines of a table, columns padded to their widest cell. */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** Progress and logs go to stderr, and only to a terminal. */
export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A one-line progress bar on stderr, redrawn at most ten times a second; silent off a TTY. */
export class ProgressBar {
  private last = 0;
  private readonly started = Date.now();
  private readonly enabled: boolean;

  constructor(private readonly label: string, stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = stream.isTTY === true;
  }

  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && done < total) return;
    this.last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const rate = `${formatBytes(Math.round(done / secs))}/s`;
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${rate}   `,
    );
  }

  done(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}
