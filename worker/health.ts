import { createServer, type Server } from 'node:http';
import { roundTrips } from '../core/metrics/round-trips.js';

/** What the probe reports: each Temporal worker of this process and its state. */
export type WorkerStates = () => Record<string, string>;

export interface HealthServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The worker's probe endpoint (KNIT_HEALTH_LISTEN). The worker serves no API, so without it a
 * kubelet could only see that the process exists. GET /healthz answers 200 while every Temporal
 * worker of the process is RUNNING and 503 once one has stopped, failed or is draining, with the
 * states as JSON. GET /metrics answers the process's round trips so far to the database and the
 * Docker engine, by statement verb and Docker route (core/metrics/round-trips.ts). Open, because
 * a probe cannot carry a secret; it reveals only those states and counts.
 */
export async function startHealthServer(listen: string, states: WorkerStates): Promise<HealthServer> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  const port = Number(listen.slice(at + 1));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ roundTrips: roundTrips() }));
      return;
    }
    if (req.method !== 'GET' || path !== '/healthz') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'only GET /healthz and GET /metrics are served here' } }));
      return;
    }
    const now = states();
    const healthy = Object.values(now).every((s) => s === 'RUNNING');
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: healthy ? 'ok' : 'unhealthy', workers: now }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
