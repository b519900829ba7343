/**
 * The text/event-stream format, read: pure, so the Node client and the browser console share it
 * (the browser's EventSource cannot send the bearer token, so the console reads the stream itself).
 */

/** One event as it came: its name (default `message`) and its data lines joined. */
export interface RawEvent {
  event: string;
  data: string;
}

/**
 * Cuts decoded text, given in pieces of any size, into events. Comments (heartbeats) are skipped;
 * a piece may end mid-line or mid-event, and the rest waits for the next piece.
 */
export class ServerSentEventSplitter {
  private buffered = '';

  push(text: string): RawEvent[] {
    // Lines end in \n or \r\n (a \r split from its \n stays buffered until the \n comes); a blank line ends an event.
    this.buffered = (this.buffered + text).replace(/\r\n/g, '\n');
    const events: RawEvent[] = [];
    let end: number;
    while ((end = this.buffered.indexOf('\n\n')) >= 0) {
      const e = parseBlock(this.buffered.slice(0, end));
      this.buffered = this.buffered.slice(end + 2);
      if (e) events.push(e);
    }
    return events;
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
