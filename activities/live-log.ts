import { Readable } from 'node:stream';
import type { BlobStore } from '../core/storage/blob-store.js';
import { formatLogLine, liveLogKey, timestampNanos, type LogLine } from '../core/run/live-log.js';

const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 1000;

/**
 * Writes a running container's log lines (from any executor) to blob storage as numbered chunks, about once a
 * second. After a crash it resumes from the position kept in the activity's heartbeat.
 */
export class LiveLogWriter {
  private buffer: Array<{ text: string; timestamp: string | undefined }> = [];
  private bytes = 0;
  private lastFlush = Date.now();
  /** The newest line taken in (flushed or not): what a resumed stream must skip up to. */
  private lastNanos: bigint | undefined;
  private lastTimestamp: string | undefined;
  /** The newest line stored in a chunk: where a replacement worker resumes from. */
  private storedTimestamp: string | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: BlobStore,
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
      const text = formatLogLine(l);
      const nanos = timestampNanos(l.timestamp);
      // After a resume a platform may repeat lines from `after` on (Docker's `since` and the
      // Kubernetes `sinceTime` are inclusive, the latter to the second); keep each line once.
      if (nanos !== undefined && this.lastNanos !== undefined && nanos <= this.lastNanos) continue;
      this.buffer.push({ text: `${text}\n`, timestamp: nanos === undefined ? undefined : l.timestamp });
      this.bytes += text.length + 1;
      if (nanos !== undefined) {
        this.lastNanos = nanos;
        this.lastTimestamp = l.timestamp;
      }
    }
    if (this.bytes >= FLUSH_BYTES || Date.now() - this.lastFlush >= FLUSH_MS) await this.flush();
  }

  /**
   * Writes what is buffered as the next chunk; flushes never overlap. The buffer is taken before
   * the write, so lines that arrive meanwhile go to the next chunk instead of being lost.
   */
  flush(): Promise<void> {
    // A failed flush must not wedge the ones after it: each starts after the last, whatever its outcome.
    this.flushing = this.flushing.catch(() => {}).then(async () => {
      if (this.buffer.length === 0) return;
      const taken = this.buffer;
      const bytes = this.bytes;
      this.buffer = [];
      this.bytes = 0;
      const seq = this.seq;
      try {
        await this.store.put(liveLogKey(this.runId, this.attempt, seq), Readable.from([Buffer.from(taken.map((l) => l.text).join(''))]));
      } catch (err) {
        this.buffer = [...taken, ...this.buffer];
        this.bytes += bytes;
        throw err;
      }
      this.seq = seq + 1;
      this.lastFlush = Date.now();
      this.storedTimestamp = taken.findLast((l) => l.timestamp !== undefined)?.timestamp ?? this.storedTimestamp;
    });
    return this.flushing;
  }
}
