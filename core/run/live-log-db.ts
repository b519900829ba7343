import { withTx, type Pool, type Queryable } from '../db/pool.js';
import { IN_FLIGHT } from './status.js';

/**
 * The live log of a running attempt, in PostgreSQL (table live_log_chunk, migration 0008): every
 * knitd and worker already shares the database, so a chunk written by the worker on one machine is
 * read by followers on any knitd, and a NOTIFY in the writing transaction tells them at once. All
 * SQL on the table is here.
 */

/**
 * The channel told of every new chunk, and (by the trigger of migration 0009) of every change of
 * a run's status or attempt; the payload is the run id.
 */
export const LIVE_LOG_CHANNEL = 'knit_live_log';

/** The most text one chunk holds, in UTF-8 bytes (the table checks it too). */
export const MAX_CHUNK_BYTES = 256 * 1024;

export interface LiveLogChunk {
  seq: number;
  text: string;
  /** The RFC3339Nano timestamp of the chunk's last line that has one. */
  lastTimestamp: string | null;
}

/** What is stored of an attempt from a sequence number on: the next free number and the newest line's timestamp. */
export interface StoredPosition {
  nextSeq: number;
  lastTimestamp: string | undefined;
}

/**
 * Appends chunks to an attempt's live log from `seq` on, and notifies followers, in one
 * transaction: a follower told of a chunk can read it. A writer that resumes from a heartbeat
 * older than what its crashed predecessor stored finds chunks at `seq` already: `build` is
 * called with what is stored from `seq` on (undefined when nothing is), so it can leave out the
 * lines already there, and its chunks go after them.
 */
export async function appendLiveLogChunks(
  pool: Pool,
  runId: string,
  attempt: number,
  seq: number,
  build: (stored: StoredPosition | undefined) => Array<{ text: string; lastTimestamp: string | undefined }>,
): Promise<StoredPosition> {
  return withTx(pool, async (tx) => {
    const r = await tx.query<{ max_seq: number | null; last_timestamp: string | null }>(
      `SELECT max(seq) AS max_seq,
              (SELECT last_timestamp FROM live_log_chunk
                WHERE run_id = $1 AND attempt = $2 AND seq >= $3 AND last_timestamp IS NOT NULL
                ORDER BY seq DESC LIMIT 1) AS last_timestamp
         FROM live_log_chunk WHERE run_id = $1 AND attempt = $2 AND seq >= $3`,
      [runId, attempt, seq],
    );
    const row = r.rows[0];
    const stored = row?.max_seq != null ? { nextSeq: row.max_seq + 1, lastTimestamp: row.last_timestamp ?? undefined } : undefined;
    let next = stored?.nextSeq ?? seq;
    let lastTimestamp = stored?.lastTimestamp;
    const chunks = build(stored);
    for (const c of chunks) {
      // Two writers of one attempt at once (a worker presumed lost that is still alive) collide
      // on the primary key: the loser's transaction fails and its flush is retried.
      await tx.query('INSERT INTO live_log_chunk (run_id, attempt, seq, text, last_timestamp) VALUES ($1, $2, $3, $4, $5)', [runId, attempt, next, c.text, c.lastTimestamp ?? null]);
      next++;
      lastTimestamp = c.lastTimestamp ?? lastTimestamp;
    }
    if (chunks.length > 0) await notifyLiveLog(tx, runId);
    return { nextSeq: next, lastTimestamp };
  });
}

/** Tells followers of a run to look again (new chunks, or the attempt has finished). Sent when the transaction commits. */
export async function notifyLiveLog(q: Queryable, runId: string): Promise<void> {
  await q.query('SELECT pg_notify($1, $2)', [LIVE_LOG_CHANNEL, runId]);
}

/** Subscribes this session to the channel. */
export async function listenLiveLog(q: Queryable): Promise<void> {
  await q.query(`LISTEN ${LIVE_LOG_CHANNEL}`);
}

/** Chunks after `afterSeq`, oldest first, at most `limit` of them: followers page through a long log. */
export async function readLiveLogChunks(q: Queryable, runId: string, attempt: number, afterSeq: number, limit: number): Promise<LiveLogChunk[]> {
  const r = await q.query<{ seq: number; text: string; last_timestamp: string | null }>(
    'SELECT seq, text, last_timestamp FROM live_log_chunk WHERE run_id = $1 AND attempt = $2 AND seq > $3 ORDER BY seq LIMIT $4',
    [runId, attempt, afterSeq, limit],
  );
  return r.rows.map((row) => ({ seq: row.seq, text: row.text, lastTimestamp: row.last_timestamp }));
}

/** For followers without notifications: per run, a token that changes when a chunk is added or the run's status or attempt changes. */
export async function liveLogVersions(q: Queryable, runIds: readonly string[]): Promise<Map<string, string>> {
  const r = await q.query<{ id: string; version: string }>(
    `SELECT r.id, r.status || ':' || r.attempt || ':' ||
            coalesce((SELECT max(c.seq) FROM live_log_chunk c WHERE c.run_id = r.id AND c.attempt = r.attempt), -1) AS version
       FROM run r WHERE r.id = ANY($1::uuid[])`,
    [runIds],
  );
  return new Map(r.rows.map((row) => [row.id, row.version]));
}

/** Deletes an attempt's live log (its run's log Data is stored); returns how many chunks went. */
export async function deleteLiveLog(q: Queryable, runId: string, attempt: number): Promise<number> {
  const r = await q.query('DELETE FROM live_log_chunk WHERE run_id = $1 AND attempt = $2', [runId, attempt]);
  return r.rowCount ?? 0;
}

/**
 * Deletes the live logs of attempts that are over: not the run's current attempt, or the run is
 * no longer in flight. Those of attempts in flight are being written and read, and are kept.
 * Returns how many chunks went.
 */
export async function sweepLiveLogChunks(q: Queryable): Promise<number> {
  const r = await q.query(
    `DELETE FROM live_log_chunk c USING run r
      WHERE c.run_id = r.id AND (c.attempt <> r.attempt OR NOT (r.status = ANY($1::text[])))`,
    [IN_FLIGHT],
  );
  return r.rowCount ?? 0;
}
