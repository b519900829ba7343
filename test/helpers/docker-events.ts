import http from 'node:http';

/** How many containers Docker created with `label` between two times (seconds since the epoch). */
export function countContainerCreates(label: string, since: number, until: number): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['create'], label: [label] }));
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

/** How many containers Docker created per value of `byLabel`, among those with `label`, between two times (seconds). */
export function containerCreatesBy(label: string, byLabel: string, since: number, until: number): Promise<Map<string, number>> {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['create'], label: [label] }));
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: '/var/run/docker.sock', path: `/events?since=${since}&until=${until}&filters=${filters}` }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const counts = new Map<string, number>();
        for (const line of text.split('\n')) {
          if (line.trim() === '') continue;
          const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
          const key = event.Actor?.Attributes?.[byLabel] ?? '';
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        resolve(counts);
      });
    });
    req.on('error', reject);
    req.end();
  });
}
