import http from 'node:http';

/** Only run containers count: the Docker executor also makes a never-started staging container per attempt. */
const RUN_CONTAINERS = 'knit.role=run';

/** How many run containers Docker created with `label` between two times (seconds since the epoch). */
export function countContainerCreates(label: string, since: number, until: number): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['create'], label: [label, RUN_CONTAINERS] }));
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: '/var/run/docker.sock', path: `/events?since=${since}&until=${until}&filters=${filters}` }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text.split('\n').filter((l) => l.trim() !== '').length));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface ContainerCreateWatch {
  /** Resolves once Docker streams events to the watch: start it before the containers come. */
  readonly ready: Promise<void>;
  /** Ends the watch; how many containers were created per value of its label. */
  stop(): Map<string, number>;
}

/**
 * Counts run containers created per value of `byLabel`, among those with `label`, as Docker reports
 * them live. Asking for past events afterwards is not enough under load: the engine keeps only
 * its last thousand or so events, which a busy test suite overwrites within minutes.
 */
export function watchContainerCreates(label: string, byLabel: string): ContainerCreateWatch {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['create'], label: [label, RUN_CONTAINERS] }));
  const counts = new Map<string, number>();
  let pending = '';
  const count = (line: string) => {
    if (line.trim() === '') return;
    const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
    const key = event.Actor?.Attributes?.[byLabel] ?? '';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  let req: http.ClientRequest;
  const ready = new Promise<void>((resolve, reject) => {
    req = http.request({ socketPath: '/var/run/docker.sock', path: `/events?filters=${filters}` }, (res) => {
      res.on('data', (c: Buffer) => {
        const lines = (pending + c.toString()).split('\n');
        pending = lines.pop() ?? '';
        lines.forEach(count);
      });
      resolve();
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
  return {
    ready,
    stop() {
      req.destroy();
      count(pending);
      return new Map(counts);
    },
  };
}
