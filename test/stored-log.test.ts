import test from 'ava';
import { knitLogLines, storedLogFiles } from '../core/run/stored-log.js';

const at = (s: number) => `2026-12-03T10:00:0${s}.5Z`;

test('a stored log keeps the output raw and each line\'s time and stream beside it, notes in place', (t) => {
  const files = storedLogFiles([
    { stream: 'knit', timestamp: at(0), text: 'warning: on_node is ignored on Docker' },
    { stream: 'stdout', timestamp: at(1), text: 'epoch 1 loss=0.5' },
    { stream: 'stderr', timestamp: at(2), text: '  a warning with  spaces ' },
    { stream: 'stdout', timestamp: at(3), text: '' },
    { stream: 'knit', timestamp: at(4), text: 'stopped by user\nafter 3 s' },
  ]);
  t.is(files.log, 'epoch 1 loss=0.5\n  a warning with  spaces \n\n');
  t.is(files.index, `${at(0)} knit warning: on_node is ignored on Docker\n${at(1)} stdout\n${at(2)} stderr\n${at(3)} stdout\n${at(4)} knit stopped by user after 3 s\n`);
  t.deepEqual(
    [...knitLogLines(files.log, files.index)],
    [
      `${at(0)} knit warning: on_node is ignored on Docker`,
      `${at(1)} stdout epoch 1 loss=0.5`,
      `${at(2)} stderr   a warning with  spaces `,
      `${at(3)} stdout `,
      `${at(4)} knit stopped by user after 3 s`,
    ],
  );
});

test('a log stored in the older one-file format reads as it was', (t) => {
  const old = `${at(1)} stdout hello\n${at(2)} knit stopped by user\n`;
  t.deepEqual([...knitLogLines(old, undefined)], [`${at(1)} stdout hello`, `${at(2)} knit stopped by user`]);
});

test('an empty log has empty files, and lines beyond a short index are still shown', (t) => {
  t.deepEqual(storedLogFiles([]), { log: '', index: '' });
  t.deepEqual([...knitLogLines('a\nb\n', `${at(1)} stderr\n`)], [`${at(1)} stderr a`, `${at(1)} stdout b`]);
});
