/**
 * What one run costs the worker in round trips (issue 11): the difference of the worker's
 * counts (GET /metrics of its health server) over a phase, per run, by statement verb and by
 * Docker route.
 */
import type { RoundTrips } from './stack.js';

export interface PerRunRoundTrips {
  database: { total: number; by: Record<string, number> };
  docker: { total: number; by: Record<string, number> };
}

function perRun(before: Record<string, number>, after: Record<string, number>, runs: number): { total: number; by: Record<string, number> } {
  const by: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = (v - (before[k] ?? 0)) / runs;
    if (d > 0) by[k] = Math.round(d * 10) / 10;
  }
  return { total: Math.round(Object.values(by).reduce((a, b) => a + b, 0) * 10) / 10, by };
}

export function perRunRoundTrips(before: RoundTrips, after: RoundTrips, runs: number): PerRunRoundTrips {
  return { database: perRun(before.database, after.database, runs), docker: perRun(before.docker, after.docker, runs) };
}

export function formatRoundTrips(r: PerRunRoundTrips): string {
  const list = (by: Record<string, number>) =>
    Object.entries(by)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return [`  round trips of the worker per run: ${r.database.total} database statements (${list(r.database.by)})`, `    ${r.docker.total} Docker engine calls (${list(r.docker.by)})`].join('\n');
}
