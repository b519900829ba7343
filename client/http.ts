import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable, Writable } from 'node:stream';
import { ErrorBody, KnitError } from '../core/errors/knit-error.js';

export interface Connection {
  /** Base URL of the knit API, e.g. http://127.0.0.1:7420 */
  readonly server: string;
  readonly token?: string | undefined;
  /** PEM certificates of the authorities to trust for an https server (a Knitfab profile's cert.ca); the system's when absent. */
  readonly ca?: string | undefined;
  /**
   * Whether Data downloads may come straight from the blob store by a signed URL, when knitd
   * offers one (default true). False for a client that reaches knitd but not the bucket.
   */
  readonly signedUrls?: boolean | undefined;
}

export type Query = Record<string, string | readonly string[] | undefined>;

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  /** A JSON-serializable value. */
  json?: unknown;
  /** A body of unknown length sent with chunked encoding: a stream, or a function writing into the request. */
  upload?: Readable | ((sink: Writable) => Promise<void>);
  signal?: AbortSignal;
  /** Resolve with a 3xx response (the caller follows it) instead of failing on it. */
  takeRedirect?: boolean;
}

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
/** One agent per trusted authority, so connections to a server with its own CA are kept alive too. */
const caAgents = new Map<string, https.Agent>();

function agentFor(conn: Connection, url: URL): http.Agent {
  if (url.protocol !== 'https:') return agents.http;
  if (conn.ca === undefined) return agents.https;
  let agent = caAgents.get(conn.ca);
  if (!agent) caAgents.set(conn.ca, (agent = new https.Agent({ keepAlive: true, ca: conn.ca })));
  return agent;
}

function buildUrl(server: string, path: string, query: Query | undefined): URL {
  const url = new URL(path, server.endsWith('/') ? server : `${server}/`);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue;
    for (const item of typeof v === 'string' ? [v] : v) url.searchParams.append(k, item);
  }
  return url;
}

/** TLS verification failures (OpenSSL's codes as Node reports them). */
const UNTRUSTED_CERT = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

function unreachable(server: string, err: Error): KnitError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (UNTRUSTED_CERT.test(code)) {
    return new KnitError(
      'unavailable',
      `the knit API at ${server} has a certificate this machine does not trust (${code}); put its authority's certificate, base64-encoded, in the profile's cert.ca (as a Knitfab handout profile has it), or trust it system-wide`,
      { cause: err },
    );
  }
  return new KnitError(
    'unavailable',
    `cannot reach the knit API at ${server} (${(err as NodeJS.ErrnoException).code ?? err.message}); start it with 'knit up', or point --server / KNIT_SERVER at a running one`,
    { cause: err },
  );
}

/**
 * Sends one request and resolves with the response once its headers arrive. Non-2xx responses
 * are turned into KnitError from the API's error body. A server may answer before it has read
 * a streamed body (401, 413); that answer wins over the write error that follows it.
 */
export function send(conn: Connection, opts: RequestOptions): Promise<IncomingMessage> {
  const url = buildUrl(conn.server, opts.path, opts.query);
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (conn.token) headers['authorization'] = `Bearer ${conn.token}`;
  let payload: Buffer | undefined;
  if (opts.json !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.json));
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  const mod = url.protocol === 'https:' ? https : http;
  const agent = agentFor(conn, url);
  return new Promise<IncomingMessage>((resolve, reject) => {
    let answered = false;
    const upload = opts.upload;
    const req = mod.request(url, { method: opts.method, headers, agent, ...(opts.signal ? { signal: opts.signal } : {}) }, (res) => {
      answered = true;
      const status = res.statusCode ?? 500;
      if (status < 300 || (opts.takeRedirect && status < 400)) {
        resolve(res);
        return;
      }
      if (upload && typeof upload !== 'function') {
        // The server has answered; the rest of the body is not wanted.
        upload.unpipe(req);
        upload.destroy();
      }
      readError(res).then(
        (err) => {
          req.destroy();
          reject(err);
        },
        reject,
      );
    });
    req.on('error', (err) => {
      if (answered) return;
      if (upload && typeof upload !== 'function' && upload.errored) return reject(upload.errored);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || UNTRUSTED_CERT.test(code ?? '')) reject(unreachable(conn.server, err));
      else reject(err);
    });
    if (upload === undefined) {
      req.end(payload);
    } else if (typeof upload === 'function') {
      upload(req).then(
        () => req.end(),
        (err: Error) => {
          // After an answer, a failing write is only the server hanging up on the rest.
          if (!answered) {
            req.destroy(err);
            reject(err);
          }
        },
      );
    } else {
      upload.on('error', (err) => req.destroy(err));
      upload.pipe(req);
    }
  });
}

/**
 * GETs a URL that is not knit's (a blob store's signed URL) and resolves with a 2xx response.
 * It carries no Authorization header: knit's token is for knitd, never for a third party.
 */
export function getForeign(url: URL, what: string, signal?: AbortSignal): Promise<IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : http;
  const agent = url.protocol === 'https:' ? agents.https : agents.http;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = mod.get(url, { agent, ...(signal ? { signal } : {}) }, (res) => {
      const status = res.statusCode ?? 500;
      if (status >= 200 && status < 300) return resolve(res);
      res.resume();
      // The URL's query is its signature: it stays out of the message.
      const err = new KnitError('unavailable', `${what}: ${url.origin}${url.pathname} answered HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd());
      err.httpStatus = status;
      reject(err);
    });
    req.on('error', (err) => reject(new KnitError('unavailable', `${what}: cannot reach ${url.origin} (${(err as NodeJS.ErrnoException).code ?? err.message})`, { cause: err })));
  });
}

async function readError(res: IncomingMessage): Promise<KnitError> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const status = res.statusCode ?? 500;
  try {
    const body = ErrorBody.parse(JSON.parse(text));
    return KnitError.fromBody(status, body);
  } catch {
    const err = new KnitError(status >= 500 ? 'internal' : 'bad_request', `HTTP ${status} from the knit API: ${text.slice(0, 200) || res.statusMessage}`);
    err.httpStatus = status;
    return err;
  }
}

export async function readJson(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}
