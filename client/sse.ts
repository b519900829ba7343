import type { IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';

/** One event as it came over text/event-stream: its name (default `message`) and its data lines joined. */
export interface RawEvent {
  event: string;
  data: string;
}

/** The events of a text/event-stream response, in order, until it ends. Comments (heartbeats) are skipped. */
export async function* readServerSentEvents(res: IncomingMessage): AsyncGenerator<RawEvent> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  for await (const chunk of res) {
    buffered += decoder.write(chunk as Buffer);
    // Lines end in \n or \r\n (a \r split from its \n stays buffered until the \n comes); a blank line ends an event.
    buffered = buffered.replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const e = parseBlock(block);
      if (e) yield e;
    }
  }
}

function parseBlock(block: string): RawEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length > 0 ? { event, data: data.join('\n') } : undefined;
}
