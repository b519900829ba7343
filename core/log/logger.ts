import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured logs go to stderr, so that stdout stays for data (CLI output, piping). */
export function createLogger(name: string, level: string = process.env['KNIT_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: false }));
}
