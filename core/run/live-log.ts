/**
 * The live log of a running attempt is kept in blob storage as numbered chunks, written by the
 * worker and read by the API (on any machine). These names are the contract between the two.
 */
export function liveLogPrefix(runId: string, attempt: number): string {
  return `runs/${runId}/a${attempt}/live/`;
}

export function liveLogKey(runId: string, attempt: number, seq: number): string {
  return `${liveLogPrefix(runId, attempt)}${String(seq).padStart(10, '0')}`;
}

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
