import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ClientRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDigest } from '../core/storage/digest.js';
import { log } from './log.js';

/** knitd answered with an error status; 5xx may pass, 4xx is final. */
export class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AgentHttpError';
  }
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** Worth another try: the network or knitd hiccuped. Everything else (4xx, bad data) is final. */
export function isTransient(err: unknown): boolean {
  if (err instanceof AgentHttpError) return err.status >= 500;
  const e = err as NodeJS.ErrnoException & { transient?: boolean };
  if (e?.transient === true) return true;
  return typeof e?.code === 'string' && TRANSIENT_CODES.has(e.code);
}

/** A connection that broke off mid-response: transient, like a reset. */
export function cutShort(what: string): Error {
  return Object.assign(new Error(`${what}: the connection closed before the whole body arrived`), { transient: true });
}

export interface RetryPolicy {
  tries: number;
  backoffMs: number;
}

/** Runs `fn` up to `tries` times, doubling the pause after each transient failure. */
export async function withRetries<T>(what: string, policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isTransient(err) || attempt >= policy.tries) throw err;
      const pause = Math.min(policy.backoffMs * 2 ** (attempt - 1), 30_000);
      log(`${what}: ${(err as Error).message}; try ${attempt + 1} of ${policy.tries} in ${pause} ms`);
      await sleep(pause);
    }
  }
}

/**
 * A connection silent for this long is given up (and retried): a knitd that hangs must not hold
 * an init container forever. Generous, since knitd fsyncs a large upload before it answers.
 */
const IDLE_MS = 5 * 60_000;

function send(url: string, opts: RequestOptions): ClientRequest {
  const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, opts);
  req.setTimeout(IDLE_MS, () => req.destroy(Object.assign(new Error(`no data from knitd for ${IDLE_MS / 1000} s`), { transient: true })));
  return req;
}

/** The error an error answer stands for, with knitd's own message when it sent one. */
async function errorOf(res: IncomingMessage, what: string): Promise<AgentHttpError> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      if (size < 64 << 10) chunks.push(c);
      size += c.length;
    }
  } catch {
    // The status says enough.
  }
  let message = Buffer.concat(chunks).toString('utf8').slice(0, 1000);
  try {
    const body = JSON.parse(message) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    // Not knit's JSON: a proxy's page, kept as text.
  }
  return new AgentHttpError(res.statusCode ?? 0, `${what}: knitd answered ${res.statusCode}: ${message}`);
}

/** GETs `url`; resolves with the response once it is a 200, its body not yet read. */
export function get(url: string, token: string, what: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers: { authorization: `Bearer ${token}` } });
    req.once('error', reject);
    req.once('response', (res) => {
      if (res.statusCode === 200) resolve(res);
      else errorOf(res, what).then(reject, reject);
    });
    req.end();
  });
}

/**
 * PUTs `body` chunked, with `x-knit-digest` (sha256 of what was sent) as a trailer, so the archive
 * streams without being hashed twice or held anywhere. Resolves with the parsed JSON answer.
 */
export function putWithDigest(url: string, token: string, body: Readable, headers: Record<string, string>, what: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      body.destroy();
      req.destroy();
      reject(err);
    };
    const req = send(url, {
      method: 'PUT',
      headers: { ...headers, authorization: `Bearer ${token}`, 'content-type': 'application/x-tar', 'transfer-encoding': 'chunked', trailer: 'x-knit-digest' },
    });
    req.once('error', fail);
    req.once('response', (res) => {
      if (res.statusCode !== 200) {
        errorOf(res, what).then(fail, fail);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', fail);
      res.once('end', () => {
        if (!res.complete) return fail(cutShort(what));
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          settled = true;
          resolve(parsed);
        } catch (err) {
          fail(new Error(`${what}: knitd's answer is not JSON: ${(err as Error).message}`));
        }
      });
    });
    const hash = createHash('sha256');
    (async () => {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (settled || req.destroyed) return;
        hash.update(chunk);
        if (!req.write(chunk)) {
          await new Promise<void>((go) => {
            const done = () => {
              req.off('drain', done);
              req.off('close', done);
              go();
            };
            req.on('drain', done);
            req.on('close', done);
          });
        }
      }
      if (settled || req.destroyed) return;
      req.addTrailers({ 'x-knit-digest': formatDigest(hash.digest('hex')) });
      req.end();
    })().catch((err: Error) => fail(err));
  });
}
