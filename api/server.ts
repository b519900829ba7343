import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ResourceBounds } from '../core/plan/resource-bounds.js';
import type { Pool } from '../core/db/pool.js';
import { LIMITS } from '../core/limits/limits.js';
import type { Logger } from '../core/log/logger.js';
import type { OutboxKind } from '../core/outbox/db.js';
import { LiveLogHub, type LiveLogHubOptions } from '../core/run/live-log-hub.js';
import type { BlobStore } from '../core/storage/blob-store.js';
import { registerBearerAuth } from './auth.js';
import { registerConsole } from './console.js';
import { clientError, frameworkError, MAX_PARAM_LENGTH, registerErrorHandling } from './errors.js';
import { registerJsonBody } from './json-body.js';
import { registerQueryChecks } from './query-check.js';
import type { Orchestrator } from './orchestrator.js';
import { registerAgentRoutes } from './routes/agent.js';
import { registerKnitfabApi } from './knitfab/index.js';
import { registerDataRoutes } from './routes/data.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerLineageRoutes } from './routes/lineage.js';
import { registerPlanRoutes } from './routes/plans.js';
import { registerRunRoutes } from './routes/runs.js';

export interface ApiDeps {
  pool: Pool;
  store: BlobStore;
  logger: Logger;
  config: {
    token: string | undefined;
    maxDataBytes: number;
    maxRunsPerApply: number;
    /** The most a plan's resources may ask for (KNIT_MAX_CPU, KNIT_MAX_MEMORY). */
    resourceBounds: ResourceBounds;
    /** Whether a plan may ask for the network (KNIT_ALLOW_NETWORK). */
    allowNetwork: boolean;
    /** Signs the agent tokens of Kubernetes Pods (KNIT_AGENT_SECRET); unset, the agent routes answer 404. */
    agentSecret?: string | undefined;
    /** The most nodes a lineage answer holds (KNIT_LINEAGE_MAX_NODES); LIMITS.lineageNodes when absent. */
    lineageMaxNodes?: number | undefined;
  };
  /** Temporal, as the API sees it: waking the matcher, signalling runs. */
  orchestrator: Orchestrator;
  /** Called after a change commits, to wake whoever reacts to it (the matcher). Must not throw. */
  onChange: (kind: OutboxKind, subjectId: string) => void;
  /** How log followers learn of new live-log lines (core/run/live-log-hub.ts); the defaults suit production. */
  liveLog?: LiveLogHubOptions;
  /** The built web console's folder (api/console.ts); dist/console when absent. */
  consoleDir?: string;
}


export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // JSON bodies are small (tag changes, plans); archives stream and have their own limit.
    bodyLimit: LIMITS.jsonBodyBytes,
    // One line per request at debug (below), instead of Fastify's two at info.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: 0,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
  });
  registerErrorHandling(app);
  registerJsonBody(app);
  registerBearerAuth(app, deps.config.token);
  registerQueryChecks(app);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  registerHealthRoutes(app, deps);
  registerDataRoutes(app, deps);
  registerPlanRoutes(app, deps);
  // One hub per process: its single LISTEN session serves every follower of this knitd.
  const liveLogs = await LiveLogHub.open(deps.pool, {
    onError: (err, what) => deps.logger.warn({ err }, `${what} failed; followers read the table until it is back`),
    ...deps.liveLog,
  });
  // preClose, before Fastify waits for requests in flight: the follow requests end then (with an
  // error, so the client knows the log is cut short) instead of holding the close until their runs end.
  app.addHook('preClose', () => liveLogs.close());
  registerRunRoutes(app, deps, liveLogs);
  registerLineageRoutes(app, deps);
  registerAgentRoutes(app, deps);
  await registerKnitfabApi(app, deps, liveLogs);
  await registerConsole(app, deps.consoleDir);
  await app.ready();
  return app;
}
