import { setTimeout as sleep } from 'node:timers/promises';
import { servesPglite } from '../db/embedded.js';
import type { Pool, Tx } from '../db/pool.js';
import { LIVE_LOG_CHANNEL, listenLiveLog, liveLogVersions } from './live-log-db.js';

export interface LiveLogHubOptions {
  /** The longest a follower waits without a notification before it reads the table again anyway. */
  fallbackMs?: number;
  /** Without notifications (PGlite): how often the followed runs are looked at. */
  pollMs?: number;
  /** How long after losing its LISTEN connection the hub connects again (doubling up to ten times that while it fails). */
  reconnectMs?: number;
  onError?: (err: unknown, what: string) => void;
}

/** One follower's view of the hub: wait until its run may have new chunks. */
export interface LiveLogWatch {
  /**
   * Resolves when the run was notified since the last call (at once if it already was), when
   * the fallback time has passed, when `signal` aborts, or when the hub closes.
   */
  next(signal?: AbortSignal): Promise<void>;
  close(): void;
}

class Watch implements LiveLogWatch {
  pending = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly hub: LiveLogHub,
    readonly runId: string,
    private readonly fallbackMs: number,
  ) {}

  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  async next(signal?: AbortSignal): Promise<void> {
    if (this.pending || this.hub.closed || signal?.aborted) {
      this.pending = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.fallbackMs);
      signal?.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
    this.pending = false;
  }

  close(): void {
    this.wake?.();
    this.hub.forget(this);
  }
}

/**
 * Tells a knitd process's log followers when their run's live log has new chunks
 * (core/run/live-log-db.ts). One LISTEN session serves every follower of the process, whatever
 * the number of followers; it is opened again whenever it is lost, and every follower reads the
 * table again then, as notifications may have been missed meanwhile. Notifications only hurry
 * followers: each also reads the table every `fallbackMs`, so a lost one delays lines, never
 * loses them.
 *
 * On PGlite, which cannot deliver notifications to another client, the hub polls instead: one
 * indexed query for all the runs followed, every `pollMs`, waking the followers of runs that
 * changed. That never touches object storage either.
 */
export class LiveLogHub {
  closed = false;
  private readonly watches = new Map<string, Set<Watch>>();
  private readonly stop = new AbortController();
  private client: Tx | undefined;
  /** Ends the wait on the LISTEN session (close()). */
  private dropSession: (() => void) | undefined;
  private polling = false;
  private readonly fallbackMs: number;
  private readonly pollMs: number;
  private readonly reconnectMs: number;
  private readonly loop: Promise<void>;

  /** Opens the hub for the database behind `pool`, listening or polling as that database allows. */
  static async open(pool: Pool, opts: LiveLogHubOptions = {}): Promise<LiveLogHub> {
    return new LiveLogHub(pool, (await servesPglite(pool)) ? 'poll' : 'listen', opts);
  }

  constructor(
    private readonly pool: Pool,
    readonly mode: 'listen' | 'poll',
    private readonly opts: LiveLogHubOptions = {},
  ) {
    this.fallbackMs = opts.fallbackMs ?? 3000;
    this.pollMs = opts.pollMs ?? 300;
    this.reconnectMs = opts.reconnectMs ?? 1000;
    this.loop = mode === 'listen' ? this.listen() : Promise.resolve();
  }

  watch(runId: string): LiveLogWatch {
    const w = new Watch(this, runId, this.fallbackMs);
    let set = this.watches.get(runId);
    if (!set) this.watches.set(runId, (set = new Set()));
    set.add(w);
    if (this.mode === 'poll' && !this.polling) void this.poll();
    return w;
  }

  /** Whether the LISTEN session is up now (always false when polling). */
  listening(): boolean {
    return this.client !== undefined;
  }

  forget(w: Watch): void {
    const set = this.watches.get(w.runId);
    set?.delete(w);
    if (set?.size === 0) this.watches.delete(w.runId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    this.wakeAll();
    this.dropSession?.();
    await this.loop;
  }

  private wake(runId: string): void {
    for (const w of this.watches.get(runId) ?? []) w.notify();
  }

  private wakeAll(): void {
    for (const set of this.watches.values()) for (const w of set) w.notify();
  }

  /** Holds the LISTEN session, connecting again after it is lost, until the hub closes. */
  private async listen(): Promise<void> {
    // Doubling while the database stays away (a restart, an outage), back to the first delay once connected.
    let delay = this.reconnectMs;
    while (!this.closed) {
      let client: Tx | undefined;
      try {
        client = await this.pool.connect();
        const c = client;
        const lost = new Promise<void>((resolve) => {
          c.once('error', () => resolve());
          c.once('end', () => resolve());
          this.dropSession = resolve;
        });
        c.on('notification', (n) => {
          if (n.channel === LIVE_LOG_CHANNEL && n.payload) this.wake(n.payload);
        });
        await listenLiveLog(c);
        if (this.closed) break;
        this.client = c;
        // Chunks written while there was no session were never announced here.
        this.wakeAll();
        delay = this.reconnectMs;
        await lost;
        if (!this.closed) this.opts.onError?.(new Error('the LISTEN connection was lost'), 'live-log listen');
      } catch (err) {
        if (!this.closed) this.opts.onError?.(err, 'live-log listen');
      } finally {
        // A session that was LISTENing is never given back to the pool: destroyed, not reused.
        client?.release(true);
        this.client = undefined;
        this.dropSession = undefined;
      }
      if (this.closed) break;
      await sleep(delay, undefined, { signal: this.stop.signal }).catch(() => {});
      delay = Math.min(delay * 2, this.reconnectMs * 10);
    }
  }

  /** Without notifications: one query for every run followed, waking those that changed. */
  private async poll(): Promise<void> {
    this.polling = true;
    const seen = new Map<string, string>();
    try {
      while (!this.closed && this.watches.size > 0) {
        try {
          const versions = await liveLogVersions(this.pool, [...this.watches.keys()]);
          for (const [id, v] of versions) {
            if (seen.get(id) !== v) this.wake(id);
            seen.set(id, v);
          }
          for (const id of seen.keys()) if (!this.watches.has(id)) seen.delete(id);
        } catch (err) {
          this.opts.onError?.(err, 'live-log poll');
        }
        await sleep(this.pollMs, undefined, { signal: this.stop.signal }).catch(() => {});
      }
    } finally {
      this.polling = false;
    }
  }
}
