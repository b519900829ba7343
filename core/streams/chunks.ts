import type { Readable } from 'node:stream';

/**
 * Iterates a byte stream's chunks exactly as they arrive. Unlike `for await (… of stream)`,
 * which reads through `read()` and so concatenates (copies) whatever is buffered, this hands
 * over the original buffers and applies backpressure by pausing the stream.
 */
export async function* chunksOf(stream: Readable, highWaterChunks = 16): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let done = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer) => {
    queue.push(c);
    if (queue.length >= highWaterChunks) stream.pause();
    notify();
  };
  const onEnd = () => {
    done = true;
    notify();
  };
  const onError = (err: Error) => {
    failure = err;
    notify();
  };
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onError);
  stream.once('close', onEnd);
  try {
    for (;;) {
      if (failure) throw failure;
      const c = queue.shift();
      if (c) {
        if (queue.length < highWaterChunks / 2 && stream.isPaused()) stream.resume();
        yield c;
        continue;
      }
      if (done) {
        if (stream.errored) throw stream.errored;
        return;
      }
      if (stream.isPaused()) stream.resume();
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onEnd);
  }
}
