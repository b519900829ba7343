import { useEffect, useState } from 'react';

// The console's paths; api/console.ts answers index.html for each first segment (CONSOLE_VIEWS).
export type Route =
  | { view: 'data'; tags: string[] }
  | { view: 'data-detail'; id: string }
  | { view: 'runs' }
  | { view: 'run'; id: string }
  | { view: 'plans' }
  | { view: 'plan'; id: string }
  | { view: 'lineage-data'; id: string }
  | { view: 'lineage-plan'; id: string };

export function parseRoute(pathname: string, search: string): Route {
  const [first, second, third] = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (first === 'data' && second) return { view: 'data-detail', id: second };
  if (first === 'runs') return second ? { view: 'run', id: second } : { view: 'runs' };
  if (first === 'plans') return second ? { view: 'plan', id: second } : { view: 'plans' };
  if (first === 'lineage' && second === 'data' && third) return { view: 'lineage-data', id: third };
  if (first === 'lineage' && second === 'plan' && third) return { view: 'lineage-plan', id: third };
  return { view: 'data', tags: new URLSearchParams(search).getAll('tag') };
}

export function navigate(to: string): void {
  history.pushState(null, '', to);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname, location.search));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname, location.search));
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return route;
}
