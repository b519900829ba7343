import { Readable } from 'node:stream';
import type { BlobStore } from '../core/storage/blob-store.js';
import { formatLogLine, liveLogKey, timestampNanos } from '../core/run/live-log.js';

const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 1000;

/**
 * Writes a running container's log lines to blob storage as numbered chunks, about once a
 * second. After a crash it resumes from the position kept in the activity's heartbeat.
 */
export class LiveLogWriter {
  private buffer: string[] = [];
  private bytes = 0;
  private lastFlush = Date.now();
  private lastNanos: bigint | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: BlobStore,
    private readonly runId: string,
    private readonly attempt: number,
    private seq: number,
    private lastTimestamp?: string,
  ) {
    this.lastNanos = lastTimestamp ? timestampNanos(lastTimestamp) : undefined;
  }

  /** Where to resume after a crash: the next chunk number and the last line already kept. */
  position(): { seq: number; lastTimestamp: string | undefined } {
    return { seq: this.seq, lastTimestamp: this.lastTimestamp };
  }

  /** Docker's `since`: seconds since the epoch, with the fraction, of the last kept line. */
  sinceParam(): string | undefined {
    if (this.lastNanos === undefined) return undefined;
    const s = this.lastNanos / 1_000_000_000n;
    const ns = this.lastNanos % 1_000_000_000n;
    return `${s}.${String(ns).padStart(9, '0')}`;
  }

  async add(lines: Array<{ stream: string; line: string }>): Promise<void> {
    for (const l of lines) {
      const { timestamp, text } = formatLogLine(l.stream, l.line);
      const nanos = timestampNanos(timestamp);
      // After a resume Docker repeats lines from `since` on; keep each line once.
      if (nanos !== undefined && this.lastNanos !== undefined && nanos <= this.lastNanos) continue;
      this.buffer.push(`${text}\n`);
      this.bytes += text.length + 1;
      if (nanos !== undefined) {
        this.lastNanos = nanos;
        this.lastTimestamp = timestamp;
      }
    }
    if (this.bytes >= FLUSH_BYTES || Date.now() - this.lastFlush >= FLUSH_MS) await this.flush();
  }

  /** Writes what is buffered as the next chunk; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.buffer.length === 0) return;
      const body = this.buffer.join('');
      const seq = this.seq;
      await this.store.put(liveLogKey(this.runId, this.attempt, seq), Readable.from([Buffer.from(body)]));
      this.seq = seq + 1;
      this.buffer = [];
      this.bytes = 0;
      this.lastFlush = Date.now();
    });
    return this.flushing;
  }
}
