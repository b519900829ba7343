import { PassThrough, type Readable } from 'node:stream';
import { drained } from '../core/streams/drained.js';

/** One Server-Sent Event: its name and its data, sent as one line of JSON. */
export interface ServerSentEvent {
  event: string;
  data: unknown;
}

/** The comment line sent while nothing else is, so proxies and clients see a live connection. */
const HEARTBEAT = ': keep-alive\n\n';

/** The wire form of one event (text/event-stream): JSON never holds a raw newline, so one data line. */
export function sseFrame(e: ServerSentEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/**
 * `events` as a text/event-stream body, with a heartbeat every `heartbeatMs`. A failure midway
 * is sent as an `error` event (the status line went out long ago), then the stream ends.
 */
export function sseStream(events: AsyncIterable<ServerSentEvent>, signal: AbortSignal, heartbeatMs = 15_000): Readable {
  const out = new PassThrough();
  const beat = setInterval(() => out.write(HEARTBEAT), heartbeatMs);
  (async () => {
    try {
      for await (const e of events) {
        if (!out.write(sseFrame(e))) await drained(out, signal);
        if (signal.aborted) return;
      }
    } catch (err) {
      out.write(sseFrame({ event: 'error', data: { message: err instanceof Error ? err.message : String(err) } }));
    }
  })().finally(() => {
    clearInterval(beat);
    out.end();
  });
  return out;
}
