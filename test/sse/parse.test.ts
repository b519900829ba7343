import test from 'ava';
import { ServerSentEventSplitter } from '../../core/sse/parse.js';

const stream = 'event: run\ndata: {"a":1}\n\n: heartbeat\n\nevent: log\r\ndata: line one\r\ndata: line two\r\n\r\ndata:plain\n\nevent: end\ndata: {}\n\n';

test('events are the same however the text is cut into pieces', (t) => {
  const whole = new ServerSentEventSplitter().push(stream);
  t.deepEqual(whole, [
    { event: 'run', data: '{"a":1}' },
    { event: 'log', data: 'line one\nline two' },
    { event: 'message', data: 'plain' },
    { event: 'end', data: '{}' },
  ]);
  for (const size of [1, 2, 3, 7, 13]) {
    const splitter = new ServerSentEventSplitter();
    const got = [];
    for (let i = 0; i < stream.length; i += size) got.push(...splitter.push(stream.slice(i, i + size)));
    t.deepEqual(got, whole, `pieces of ${size}`);
  }
});

test('an event is given only once its blank line has come, and a block with no data is none', (t) => {
  const splitter = new ServerSentEventSplitter();
  t.deepEqual(splitter.push('event: run\ndata: x\n'), []);
  t.deepEqual(splitter.push('\nevent: lonely\n\n'), [{ event: 'run', data: 'x' }]);
  t.deepEqual(splitter.push('data\n\n'), [{ event: 'message', data: '' }], 'a field with no colon has an empty value');
});
