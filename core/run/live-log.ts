/**
 * Log lines as executors report them and as knit keeps them, live (core/run/live-log-db.ts) and
 * stored (the run's log Data).
 */

/** Nanoseconds since the epoch of an RFC3339Nano timestamp; Docker trims trailing zeros, so strings do not compare. */
export function timestampNanos(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  if (!m) return undefined;
  const seconds = BigInt(Date.parse(`${m[1]}Z`) / 1000);
  return seconds * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** A line of a container's log, as an executor reports it. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with up to nine fractional digits, as the platform stamped it. */
  timestamp: string;
  text: string;
}

/** A log line as knit keeps it, live and stored: the platform's timestamp, the stream, the text. */
export function formatLogLine(l: LogLine): string {
  return `${l.timestamp} ${l.stream} ${l.text}`;
}
