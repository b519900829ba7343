import http from 'node:http';

/**
 * Follows Docker's event stream and records when each knit run's container started (ms since
 * the epoch). Followed live: the engine keeps too few past events to ask for them afterwards.
 */
export function watchContainerStarts(): { starts: Map<string, number>; stop: () => void } {
  const starts = new Map<string, number>();
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start'] }));
  let buf = '';
  const req = http.request({ socketPath: '/var/run/docker.sock', path: `/events?filters=${filters}` }, (res) => {
    res.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as { timeNano: number; Actor: { Attributes: Record<string, string> } };
        const run = e.Actor.Attributes['knit.run'];
        if (run) starts.set(run, e.timeNano / 1e6);
      }
    });
  });
  req.on('error', () => {});
  req.end();
  return { starts, stop: () => req.destroy() };
}
