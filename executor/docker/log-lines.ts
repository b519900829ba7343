import type { LogLine } from '../../core/run/live-log.js';
import { timestampNanos } from '../../core/run/live-log.js';
import type { LogStream } from './engine.js';

/** A line as Docker sends it with timestamps on: "<RFC3339Nano> <text>". */
export function parseDockerLine(l: { stream: LogStream; line: string }): LogLine {
  const space = l.line.indexOf(' ');
  return space > 0 ? { stream: l.stream, timestamp: l.line.slice(0, space), text: l.line.slice(space + 1) } : { stream: l.stream, timestamp: '', text: l.line };
}

/** Docker's `since`: seconds since the epoch with the fraction; it is inclusive, so callers drop the repeated line. */
export function dockerSince(timestamp: string): string | undefined {
  const nanos = timestampNanos(timestamp);
  if (nanos === undefined) return undefined;
  return `${nanos / 1_000_000_000n}.${String(nanos % 1_000_000_000n).padStart(9, '0')}`;
}
