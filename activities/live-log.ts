import type { Pool } from '../core/db/pool.js';
import { formatLogLine, timestampNanos, type LogLine } from '../core/run/live-log.js';
import { appendLiveLogChunks, MAX_CHUNK_BYTES } from '../core/run/live-log-db.js';

const FLUSH_MS = 1000;

export interface Buffered {
  /** The formatted line with its newline. */
  text: string;
  bytes: number;
  /** The platform's timestamp, when it has a usable one. */
  timestamp: string | undefined;
}

/**
 * Writes a running container's log lines (from any executor) to the database as numbered chunks
 * (core/run/live-log-db.ts), about once a second, and notifies followers in the same
 * transaction. After a crash it resumes from the position kept in the activity's heartbeat.
 */
export class LiveLogWriter {
  private buffer: Buffered[] = [];
  private bytes = 0;
  private lastFlush = Date.now();
  /** The newest line taken in (flushed or not): what a resumed stream must skip up to. */
  private lastNanos: bigint | undefined;
  private lastTimestamp: string | undefined;
  /** The newest line stored in a chunk: where a replacement worker resumes from. */
  private storedTimestamp: string | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: Pool,
    private readonly runId: string,
    private readonly attempt: number,
    private seq: number,
    resumeAfter?: string,
  ) {
    this.storedTimestamp = resumeAfter;
    this.lastNanos = resumeAfter ? timestampNanos(resumeAfter) : undefined;
    this.lastTimestamp = resumeAfter;
  }

  /** Where to resume after a crash: the next chunk number and the last line stored. */
  position(): { seq: number; lastTimestamp: string | undefined } {
    return { seq: this.seq, lastTimestamp: this.storedTimestamp };
  }

  /** The timestamp of the newest line taken in: where a resumed log stream starts. */
  after(): string | undefined {
    return this.lastTimestamp;
  }

  async add(lines: LogLine[]): Promise<void> {
    for (const l of lines) {
      const text = `${formatLogLine(l)}\n`;
      const nanos = timestampNanos(l.timestamp);
      // After a resume a platform may repeat lines from `after` on (Docker's `since` and the
      // Kubernetes `sinceTime` are inclusive, the latter to the second); keep each line once.
      if (nanos !== undefined && this.lastNanos !== undefined && nanos <= this.lastNanos) continue;
      const bytes = Buffer.byteLength(text);
      this.buffer.push({ text, bytes, timestamp: nanos === undefined ? undefined : l.timestamp });
      this.bytes += bytes;
      if (nanos !== undefined) {
        this.lastNanos = nanos;
        this.lastTimestamp = l.timestamp;
      }
    }
    if (this.bytes >= MAX_CHUNK_BYTES || Date.now() - this.lastFlush >= FLUSH_MS) await this.flush();
  }

  /**
   * Writes what is buffered as the next chunks, in one transaction; flushes never overlap. The
   * buffer is taken before the write, so lines that arrive meanwhile go to the next flush instead
   * of being lost.
   */
  flush(): Promise<void> {
    // A failed flush must not wedge the ones after it: each starts after the last, whatever its outcome.
    this.flushing = this.flushing.catch(() => {}).then(async () => {
      if (this.buffer.length === 0) return;
      const taken = this.buffer;
      const bytes = this.bytes;
      this.buffer = [];
      this.bytes = 0;
      try {
        const stored = await appendLiveLogChunks(this.pool, this.runId, this.attempt, this.seq, (already) => {
          // A crashed predecessor stored chunks after the heartbeat this writer resumed from:
          // the lines it stored are not stored again.
          const upTo = already?.lastTimestamp === undefined ? undefined : timestampNanos(already.lastTimestamp);
          const fresh = upTo === undefined ? taken : taken.filter((l) => l.timestamp === undefined || timestampNanos(l.timestamp)! > upTo);
          return packChunks(fresh);
        });
        this.seq = stored.nextSeq;
        this.storedTimestamp = stored.lastTimestamp ?? this.storedTimestamp;
      } catch (err) {
        this.buffer = [...taken, ...this.buffer];
        this.bytes += bytes;
        throw err;
      }
      this.lastFlush = Date.now();
    });
    return this.flushing;
  }
}

/**
 * Lines into chunks of at most MAX_CHUNK_BYTES; a longer line is split (at a character
 * boundary) over several. A chunk's timestamp is that of the last line ending in it.
 */
export function packChunks(lines: readonly Buffered[]): Array<{ text: string; lastTimestamp: string | undefined }> {
  const chunks: Array<{ text: string; lastTimestamp: string | undefined }> = [];
  let parts: string[] = [];
  let size = 0;
  let ts: string | undefined;
  const close = () => {
    if (parts.length > 0) chunks.push({ text: parts.join(''), lastTimestamp: ts });
    parts = [];
    size = 0;
    ts = undefined;
  };
  for (const l of lines) {
    if (size + l.bytes <= MAX_CHUNK_BYTES) {
      parts.push(l.text);
      size += l.bytes;
      ts = l.timestamp ?? ts;
      continue;
    }
    // A line that fits a chunk of its own starts one rather than being split.
    close();
    if (l.bytes <= MAX_CHUNK_BYTES) {
      parts.push(l.text);
      size = l.bytes;
      ts = l.timestamp;
      continue;
    }
    let rest = Buffer.from(l.text);
    while (rest.length > 0) {
      if (size === MAX_CHUNK_BYTES) close();
      let end = Math.min(rest.length, MAX_CHUNK_BYTES - size);
      // Never cut inside a UTF-8 sequence: back up to the start of the character.
      while (end < rest.length && end > 0 && (rest[end]! & 0xc0) === 0x80) end--;
      if (end === 0) {
        close();
        continue;
      }
      parts.push(rest.subarray(0, end).toString('utf8'));
      size += end;
      rest = rest.subarray(end);
      if (rest.length === 0) ts = l.timestamp ?? ts;
      else close();
    }
  }
  close();
  return chunks;
}
