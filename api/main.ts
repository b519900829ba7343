import { readServerEnv, isLoopback, type ServerEnv } from '../core/config/config.js';
import { collectGarbage } from '../core/data/gc.js';
import { startPeriodicSweep } from '../core/data/gc-loop.js';
import { migrate } from '../core/db/migrate.js';
import { openDatabase } from '../core/db/open.js';
import { KnitError } from '../core/errors/knit-error.js';
import { createLogger } from '../core/log/logger.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import { openBlobStore } from '../core/storage/factory.js';
import { temporalOrchestrator } from './orchestrator.js';
import { buildApi } from './server.js';

export interface RunningApi {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts knitd: migrate, collect upload garbage, then serve. */
export async function startApiServer(env: ServerEnv): Promise<RunningApi> {
  const logger = createLogger('knitd', env.KNIT_LOG_LEVEL);
  const [host, portText] = [env.KNIT_LISTEN.slice(0, env.KNIT_LISTEN.lastIndexOf(':')), env.KNIT_LISTEN.slice(env.KNIT_LISTEN.lastIndexOf(':') + 1)];
  if (!isLoopback(host) && env.KNIT_TOKEN === undefined) {
    throw new KnitError('bad_request', `env.KNIT_LISTEN: refusing to listen on ${host} without KNIT_TOKEN; set a token or listen on 127.0.0.1`, {
      field: 'env.KNIT_LISTEN',
    });
  }
  const db = await openDatabase({ databaseUrl: env.DATABASE_URL, knitHome: env.KNIT_HOME, applicationName: 'knitd', statementTimeoutMs: env.KNIT_STATEMENT_TIMEOUT });
  const store = openBlobStore(env);
  await checkSigning(store);
  // The grace period is what keeps another replica's upload in progress safe, start-up or not.
  const sweepUploads = async () => {
    const gc = await collectGarbage(db.pool, store, env.KNIT_GC_GRACE_SECONDS * 1000);
    if (gc.incompleteUploads + gc.orphanObjects > 0) logger.info(gc, 'removed leftovers of interrupted uploads');
  };
  try {
    const m = await migrate(db.pool);
    if (m.applied.length > 0) logger.info({ applied: m.applied }, 'database migrated');
    await sweepUploads();
  } catch (err) {
    await db.close();
    throw err;
  }
  const orchestrator = temporalOrchestrator(env, logger);
  const app = await buildApi({
    pool: db.pool,
    store,
    logger,
    config: {
      token: env.KNIT_TOKEN,
      maxDataBytes: env.KNIT_MAX_DATA_BYTES,
      maxRunsPerApply: env.KNIT_MAX_RUNS_PER_APPLY,
      resourceBounds: { maxCpu: env.KNIT_MAX_CPU, maxMemory: env.KNIT_MAX_MEMORY },
      allowNetwork: env.KNIT_ALLOW_NETWORK,
      agentSecret: env.KNIT_AGENT_SECRET,
      lineageMaxNodes: env.KNIT_LINEAGE_MAX_NODES,
    },
    orchestrator,
    onChange: () => orchestrator.wake(),
  });
  const sweeper = startPeriodicSweep(env.KNIT_GC_INTERVAL_SECONDS * 1000, sweepUploads, (err) => logger.warn({ err }, 'sweeping upload leftovers failed; will retry'));
  await app.listen({ host, port: Number(portText) });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : Number(portText);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    async close() {
      await sweeper.stop();
      await app.close();
      await orchestrator.close();
      await db.close();
    },
  };
}

/**
 * Signs one URL at start-up when signed URLs are on: credentials that cannot sign (no private key,
 * no signBlob permission) stop knitd here, named, instead of failing every pull later. Signing a
 * key needs no object under it.
 */
async function checkSigning(store: BlobStore): Promise<void> {
  if (!store.signedUrl) return;
  try {
    await store.signedUrl('knit-signing-check', 60);
  } catch (err) {
    throw new KnitError(
      'bad_request',
      `env.KNIT_GCS_SIGNED_URLS: these credentials cannot sign URLs (${(err as Error).message}); use a service-account key (GOOGLE_APPLICATION_CREDENTIALS) or one allowed iam.serviceAccounts.signBlob, or set KNIT_GCS_SIGNED_URLS=false`,
      { field: 'env.KNIT_GCS_SIGNED_URLS', cause: err },
    );
  }
}

/** The `knitd` executable. */
export async function main(): Promise<void> {
  const env = readServerEnv();
  const api = await startApiServer(env);
  // One line on stdout so supervisors (knit up, tests) learn the address when the port was 0.
  process.stdout.write(`knitd listening on ${api.url}\n`);
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    api.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
