import { useEffect, useState } from 'react';
import { streamEvents } from './api.js';
import type { RunDetail, RunEvent } from './types.js';
import type { Loaded } from './ui.js';

/** How long to wait before following again after the stream broke (the server restarted, the network dropped). */
const RECONNECT_MS = 2000;

export interface LiveRun {
  run: Loaded<RunDetail>;
  log: string;
  /** `following`, `ended` once the run has ended and its log is out, or why the stream stopped. */
  following: 'following' | 'ended' | string;
}

/**
 * Follows GET /api/runs/:id/events?log=true: the run at once and after every change, its log as
 * it comes, until `end`. A broken stream is followed again; the server then sends the log from its
 * start, so what was shown is replaced rather than added to.
 */
export function useRunEvents(id: string): LiveRun {
  const [live, setLive] = useState<LiveRun>({ run: {}, log: '', following: 'following' });
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    let seen = false;
    const follow = () => {
      let fresh = true;
      const onEvent = (raw: { event: string; data: string }) => {
        const e = { event: raw.event, data: JSON.parse(raw.data) } as RunEvent;
        const restart = fresh;
        fresh = false;
        seen = true;
        setLive((s) => {
          const log = restart ? '' : s.log;
          switch (e.event) {
            case 'run':
              return { ...s, log, run: { value: e.data }, following: 'following' };
            case 'log':
              return { ...s, log: log + e.data.text };
            case 'end':
              ended = true;
              return { ...s, log, run: { value: e.data }, following: 'ended' };
            case 'error':
              return { ...s, following: e.data.message };
          }
        });
      };
      streamEvents(`runs/${encodeURIComponent(id)}/events`, { log: 'true' }, onEvent, abort.signal).then(
        () => {
          if (!ended && !abort.signal.aborted) timer = setTimeout(follow, RECONNECT_MS);
        },
        (err: Error) => {
          if (abort.signal.aborted) return;
          if (!seen) {
            // Before any event, an error is about the run itself (not found, no token): shown, not retried.
            setLive((s) => ({ ...s, run: { error: err.message }, following: err.message }));
            return;
          }
          setLive((s) => ({ ...s, following: `${err.message}; following again…` }));
          timer = setTimeout(follow, RECONNECT_MS);
        },
      );
    };
    setLive({ run: {}, log: '', following: 'following' });
    follow();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [id]);
  return live;
}
