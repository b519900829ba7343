import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { POD_GATEWAY } from './cluster.js';

export interface PodForward {
  /** HOST:PORT at which Pods reach the service. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Makes a service that listens on the host's loopback (the shared PostgreSQL, the Temporal dev
 * server) reachable from Pods, which reach the host only at the pod gateway: a TCP relay from a
 * free port there to `target`. Bytes pass through unchanged, so any protocol works; closing
 * ends the relayed connections too.
 */
export async function forwardFromPods(target: { host: string; port: number }): Promise<PodForward> {
  const open = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = createConnection(target);
    open.add(inbound).add(outbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, POD_GATEWAY, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    address: `${POD_GATEWAY}:${port}`,
    port,
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
