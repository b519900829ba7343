import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../validation/parse.js';
import { parseBytes } from './units.js';

const bytes = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      const n = parseBytes(s);
      if (n === undefined || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a size such as 100MB or 2GiB, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return n;
    });

const int = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

/** The server-side configuration, read from the environment (12-factor, so pods and `knit up` agree). */
export const ServerEnv = z.object({
  KNIT_HOME: z.string().min(1).default(join(homedir(), '.knit')),
  DATABASE_URL: z.string().min(1).optional(),
  KNIT_TOKEN: z.string().min(1).optional(),
  KNIT_LISTEN: z
    .string()
    .regex(/^[^:]+:\d+$/, 'must be HOST:PORT')
    .default('127.0.0.1:7420'),
  KNIT_MAX_DATA_BYTES: bytes('1TiB'),
  /** Uploads and objects younger than this are never garbage-collected: another replica may own them. */
  KNIT_GC_GRACE_SECONDS: int(3600),
  KNIT_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  KNIT_STORAGE_DIR: z.string().min(1).optional(),
});
export type ServerEnv = z.output<typeof ServerEnv>;

export function readServerEnv(env: NodeJS.ProcessEnv = process.env): ServerEnv {
  return parseOrThrow(ServerEnv, env, 'env');
}

export function storageDir(cfg: Pick<ServerEnv, 'KNIT_HOME' | 'KNIT_STORAGE_DIR'>): string {
  return cfg.KNIT_STORAGE_DIR ?? join(cfg.KNIT_HOME, 'storage');
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}
