import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PgliteWireServer } from './pglite-wire-server.js';
import type { Queryable } from './pool.js';

export interface EmbeddedPostgres {
  /** A DATABASE_URL that any PostgreSQL client (pg, psql) can use. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * The embedded default: PGlite (PostgreSQL compiled to WASM) served over the wire protocol, so
 * the API and the worker use the same `pg` code path they use against a real server.
 * `dataDir` undefined keeps the database in memory (tests).
 */
export async function startEmbeddedPostgres(opts: { dataDir?: string; port?: number } = {}): Promise<EmbeddedPostgres> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create(opts.dataDir);
  const server = new PgliteWireServer(db);
  const { host, port } = await server.listen('127.0.0.1', opts.port ?? 0);
  return {
    url: `postgres://postgres@${host}:${port}/postgres?sslmode=disable`,
    async stop() {
      await server.close();
      await db.close();
    },
  };
}

/**
 * The database to use: `databaseUrl` when one is given, else an embedded PGlite kept in
 * `dataDir`. `stop` stops what this started (nothing, for an external server).
 */
export async function databaseAt(databaseUrl: string | undefined, dataDir: string): Promise<{ url: string; embedded: boolean; stop(): Promise<void> }> {
  if (databaseUrl !== undefined) return { url: databaseUrl, embedded: false, stop: async () => {} };
  const db = await startEmbeddedPostgres({ dataDir });
  return { url: db.url, embedded: true, stop: () => db.stop() };
}

/**
 * Whether the server behind `q` is PGlite. Its one session is shared by every wire client
 * (pglite-wire-server.ts), so a NOTIFY is delivered to whichever client sent it, never to a client
 * that ran LISTEN: LISTEN/NOTIFY cannot work there, and notified code must poll instead.
 */
export async function servesPglite(q: Queryable): Promise<boolean> {
  const r = await q.query<{ version: string }>('SELECT version()');
  return /\bPGlite\b/.test(r.rows[0]?.version ?? '');
}
