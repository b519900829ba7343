import { join } from 'node:path';
import { noOrchestrator } from '../../api/orchestrator.js';
import { buildApi } from '../../api/server.js';
import { KnitClient } from '../../client/knit-client.js';
import { hostResourceBounds, type ResourceBounds } from '../../core/plan/resource-bounds.js';
import { createLogger } from '../../core/log/logger.js';
import type { OutboxKind } from '../../core/outbox/db.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { tempDir } from './tmp.js';

export interface TestApi {
  readonly url: string;
  readonly home: string;
  readonly db: TestDatabase;
  readonly store: LocalBlobStore;
  readonly client: KnitClient;
  readonly changes: Array<{ kind: OutboxKind; id: string }>;
  close(): Promise<void>;
}

/** A live API server on a free port, with its own database and storage folder. */
export async function startTestApi(
  opts: { token?: string; maxDataBytes?: number; resourceBounds?: ResourceBounds; allowNetwork?: boolean; agentSecret?: string; host?: string; databaseServer?: string; consoleDir?: string } = {},
): Promise<TestApi> {
  const db = await createTestDatabase(opts.databaseServer ? { serverUrl: opts.databaseServer } : {});
  const home = await tempDir('knit-home-');
  const store = new LocalBlobStore(join(home.path, 'storage'));
  const changes: TestApi['changes'] = [];
  const app = await buildApi({
    pool: db.pool,
    store,
    logger: createLogger('knitd-test', process.env['KNIT_TEST_LOG'] ?? 'silent'),
    config: { token: opts.token, maxDataBytes: opts.maxDataBytes ?? 2 ** 40, maxRunsPerApply: 100, resourceBounds: opts.resourceBounds ?? hostResourceBounds(), allowNetwork: opts.allowNetwork ?? true, agentSecret: opts.agentSecret },
    orchestrator: noOrchestrator,
    onChange: (kind, id) => changes.push({ kind, id }),
    ...(opts.consoleDir !== undefined ? { consoleDir: opts.consoleDir } : {}),
  });
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: 0 });
  const addr = app.server.address();
  const url = `http://${host}:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    home: home.path,
    db,
    store,
    client: new KnitClient({ server: url, token: opts.token }),
    changes,
    async close() {
      await app.close();
      await db.drop();
      await home.cleanup();
    },
  };
}
