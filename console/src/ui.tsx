import { useEffect, useState, type ReactNode } from 'react';
import { navigate } from './routes.js';

/** An in-console link: a real href (so it opens in a new tab too), navigated without a reload. */
export function Link({ to, children, testId }: { to: string; children: ReactNode; testId?: string }) {
  return (
    <a
      href={to}
      data-testid={testId}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export const short = (id: string) => id.slice(0, 8);

export function formatSize(bytes: number | null): string {
  if (bytes === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export type Loaded<T> = { value: T; error?: undefined } | { value?: undefined; error: string } | { value?: undefined; error?: undefined };

/**
 * Loads with `load` when `deps` change, and again every `everyMs` while `keepPolling` says so
 * (lists, which have no event stream). Errors are shown, not thrown.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], everyMs?: number, keepPolling: (v: T) => boolean = () => true): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({});
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const once = async () => {
      try {
        const value = await load(abort.signal);
        if (abort.signal.aborted) return;
        setState({ value });
        if (everyMs !== undefined && keepPolling(value)) timer = setTimeout(once, everyMs);
      } catch (err) {
        if (abort.signal.aborted) return;
        setState({ error: (err as Error).message });
        if (everyMs !== undefined) timer = setTimeout(once, everyMs);
      }
    };
    void once();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

/** A paginated list as it is shown: its first pages, and whether another follows. */
export interface Paged<T> {
  items: T[];
  more: boolean;
}

/** useLoad of a paginated list, `pages` of it; `showMore` (a MoreButton) adds one. */
export function usePagedLoad<T>(
  load: (pages: number, signal: AbortSignal) => Promise<Paged<T>>,
  deps: unknown[],
  everyMs?: number,
  keepPolling?: (v: Paged<T>) => boolean,
): { state: Loaded<Paged<T>>; showMore: () => void } {
  const [pages, setPages] = useState(1);
  const state = useLoad((signal) => load(pages, signal), [...deps, pages], everyMs, keepPolling);
  return { state, showMore: () => setPages(pages + 1) };
}

/** Below a paginated list: asks for its next page. */
export function MoreButton({ more, onMore }: { more: boolean; onMore: () => void }) {
  if (!more) return null;
  return (
    <button type="button" className="more" data-testid="more" onClick={onMore}>
      show more
    </button>
  );
}

export function Status<T>({ state, children }: { state: Loaded<T>; children: (v: T) => ReactNode }) {
  if (state.error !== undefined) return <p className="error" data-testid="error">{state.error}</p>;
  if (state.value === undefined) return <p className="muted">loading…</p>;
  return <>{children(state.value)}</>;
}

export function Tags({ tags }: { tags: string[] }) {
  return (
    <span className="tags">
      {tags.map((t) => (
        <span key={t} className={t.startsWith('knit#') ? 'tag system' : 'tag'}>
          {t}
        </span>
      ))}
    </span>
  );
}
