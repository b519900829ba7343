import { formatLogLine, type LogLine } from './live-log.js';

/**
 * A run's log as its log Data stores it. `log` holds the container's output raw, as it wrote it
 * (stdout and stderr interleaved in the platform's order), so a downstream plan that takes log Data
 * as input, or a user who pulls it, reads exactly that. What knit knows about each line sits beside
 * it, in `log.index`: line N of the index describes line N of `log` (`<timestamp> <stream>`), and
 * knit's own notes sit between them where they happened (`<timestamp> knit <note>`), taking no line
 * of `log`. Log Data stored before this format held one file, `log`, of `<timestamp> <stream> <text>`
 * lines with the notes inside; readers accept both.
 */
export const LOG_FILE = 'log';
export const LOG_INDEX_FILE = 'log.index';

export type StoredLogEntry = LogLine | { stream: 'knit'; timestamp: string; text: string };

/** The two files of a log Data, from the container's lines and knit's notes, in order. */
export function storedLogFiles(entries: Iterable<StoredLogEntry>): { log: string; index: string } {
  const log: string[] = [];
  const index: string[] = [];
  for (const e of entries) {
    if (e.stream === 'knit') {
      index.push(`${e.timestamp} knit ${oneLine(e.text)}\n`);
    } else {
      log.push(`${e.text}\n`);
      index.push(`${e.timestamp} ${e.stream}\n`);
    }
  }
  return { log: log.join(''), index: index.join('') };
}

/** A note is one index line: a newline inside would read as a line of its own. */
function oneLine(text: string): string {
  return text.replace(/\r?\n/g, ' ');
}

/**
 * The log back as knit shows it, `<timestamp> <stream> <text>` lines with the notes in place, from
 * a log Data's files; `index` undefined for a log stored in the older one-file format. Lines of
 * `log` beyond the index (there should be none) keep the last timestamp seen, so none is dropped.
 */
export function* knitLogLines(log: string, index: string | undefined): Generator<string> {
  const lines = splitLines(log);
  if (index === undefined) {
    yield* lines;
    return;
  }
  let next = 0;
  let lastTimestamp = '';
  for (const entry of splitLines(index)) {
    const space = entry.indexOf(' ');
    const timestamp = entry.slice(0, space);
    const rest = entry.slice(space + 1);
    lastTimestamp = timestamp;
    if (rest.startsWith('knit ')) {
      yield `${timestamp} ${rest}`;
    } else if (next < lines.length) {
      yield formatLogLine({ timestamp, stream: rest === 'stderr' ? 'stderr' : 'stdout', text: lines[next++]! });
    }
  }
  for (; next < lines.length; next++) yield formatLogLine({ timestamp: lastTimestamp, stream: 'stdout', text: lines[next]! });
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
