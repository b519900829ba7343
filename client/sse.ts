import type { IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { ServerSentEventSplitter, type RawEvent } from '../core/sse/parse.js';

export type { RawEvent } from '../core/sse/parse.js';

/** The events of a text/event-stream response, in order, until it ends. Comments (heartbeats) are skipped. */
export async function* readServerSentEvents(res: IncomingMessage): AsyncGenerator<RawEvent> {
  const decoder = new StringDecoder('utf8');
  const splitter = new ServerSentEventSplitter();
  for await (const chunk of res) yield* splitter.push(decoder.write(chunk as Buffer));
}
