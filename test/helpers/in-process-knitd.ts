import type { FastifyInstance } from 'fastify';
import { noOrchestrator } from '../../api/orchestrator.js';
import { buildApi } from '../../api/server.js';
import { KnitClient } from '../../client/knit-client.js';
import { openPool, type Pool } from '../../core/db/pool.js';
import { createLogger } from '../../core/log/logger.js';
import { hostResourceBounds } from '../../core/plan/resource-bounds.js';
import type { LiveLogHubOptions } from '../../core/run/live-log-hub.js';
import type { BlobStore } from '../../core/storage/blob-store.js';

/** A knitd-like API with a pool (and live-log hub) of its own, as one replica of several sharing a database. */
export interface Knitd {
  pool: Pool;
  app: FastifyInstance;
  client: KnitClient;
  close(): Promise<void>;
}

/** Starts one on a free port of 127.0.0.1, with no orchestrator (no Temporal): what is tested is the API and the database. */
export async function startKnitd(dbUrl: string, store: BlobStore, name: string, liveLog: LiveLogHubOptions): Promise<Knitd> {
  const pool = openPool(dbUrl, { max: 4, applicationName: name });
  const app = await buildApi({
    pool,
    store,
    logger: createLogger(name, process.env['KNIT_TEST_LOG'] ?? 'silent'),
    config: { token: undefined, maxDataBytes: 1 << 30, maxRunsPerApply: 10, resourceBounds: hostResourceBounds(), allowNetwork: true },
    orchestrator: noOrchestrator,
    onChange: () => {},
    liveLog: { reconnectMs: 50, ...liveLog },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const client = new KnitClient({ server: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` });
  return {
    pool,
    app,
    client,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}
