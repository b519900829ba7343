/**
 * The round trips this process made to the services it depends on, counted where they are made
 * (the database pool, the Docker engine client), so a bench can tell what one run costs in
 * statements and engine calls (issue 11). Counting is an increment per call; nothing is kept
 * per request.
 */
export type Service = 'database' | 'docker';

const counts: Record<Service, Map<string, number>> = { database: new Map(), docker: new Map() };

export function countRoundTrip(service: Service, what: string): void {
  const m = counts[service];
  m.set(what, (m.get(what) ?? 0) + 1);
}

/** Every count so far, by service and then by what was asked (a statement's verb, a Docker route). */
export function roundTrips(): Record<Service, Record<string, number>> {
  return { database: Object.fromEntries(counts.database), docker: Object.fromEntries(counts.docker) };
}

/** A statement's first keyword (SELECT, INSERT, BEGIN…), so counts stay few whatever the SQL. */
export function statementVerb(text: string): string {
  const m = /^\s*(?:--[^\n]*\n\s*)*(\w+)/.exec(text);
  return m ? m[1]!.toUpperCase() : 'OTHER';
}

/** A Docker API path with its names and ids taken out: `/containers/{name}/json`. */
export function dockerRoute(method: string, path: string): string {
  const bare = path.split('?')[0]!;
  const route = bare.replace(/^\/(containers|volumes|images|networks)\/(?!create$|json$|prune$)[^/]+/, '/$1/{name}');
  return `${method} ${route}`;
}
