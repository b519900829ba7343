/**
 * Knitfab's lifecycle hooks (docs/hooks.md): URLs the administrator names, POSTed a run's
 * Knitfab RunDetail before and after each status change its workflow makes. This module is the
 * HTTP side only; activities/hooks.ts decides when, and workflows/run.ts what a refusal means.
 */

export interface HookSettings {
  /** Called in order before each change; any refusal holds the change (retried in the workflow). */
  before: string[];
  /** Called after each change, at most once; answers ignored, failures only logged. */
  after: string[];
  /** The longest one call may take, answer read included. */
  timeoutMs: number;
}

/** A before hook that did not say yes: a non-2xx answer, no answer, or no answer in time. */
export class HookRefused extends Error {
  constructor(
    readonly url: string,
    readonly answer: string,
  ) {
    super(`hook ${url} ${answer}`);
    this.name = 'HookRefused';
  }
}

/** A hook's answer asked for environment variables knit cannot set; the message names the hook and the variable. */
export class HookEnvInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HookEnvInvalid';
  }
}

export interface HookAnswer {
  status: number;
  /** The Content-Type header as sent, or '' without one. */
  contentType: string;
  text: string;
}

/** An answer's body is read up to this much: hooks answer with small JSON, and a run must not hold a huge one. */
const MAX_ANSWER_BYTES = 1 << 20;
/** How much of a refusing answer's body goes into the run's message. */
const EXCERPT_CHARS = 300;

/**
 * POSTs `body` as JSON to `url` and reads the answer, all within `timeoutMs` (or until `signal`
 * aborts). Throws HookRefused for no answer; any status is returned.
 */
export async function postHook(url: string, body: unknown, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<HookAnswer> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal, redirect: 'manual' });
    const text = await readBounded(res);
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text };
  } catch (err) {
    if (timeout.aborted) throw new HookRefused(url, `did not answer within ${opts.timeoutMs} ms (KNIT_HOOKS_TIMEOUT)`);
    if (opts.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new HookRefused(url, `could not be reached: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What a refusing answer said, for the run's message: its status, and its body when it is text or JSON (as Knitfab logs it). */
export function describeRefusal(a: HookAnswer): string {
  const readable = /^text\//i.test(a.contentType) || /^application\/json\b/i.test(a.contentType);
  const body = a.text.trim();
  if (!readable || body === '') return `answered HTTP ${a.status}`;
  return `answered HTTP ${a.status}: ${body.length > EXCERPT_CHARS ? `${body.slice(0, EXCERPT_CHARS)}…` : body}`;
}

/** A name a process environment can hold and a shell can read: letters, digits, `_`, not starting with a digit. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment a 2xx answer asks for, as Knitfab reads it: only with Content-Type exactly
 * `application/json` and a body `{"knitfabExtension": {"env": {NAME: "value"}}}`; any other
 * answer asks for nothing. An env with a bad name or a value that is not a string is refused
 * (HookEnvInvalid), not dropped: the plan's author should hear why the variable is missing.
 * Neither executor sets variables of its own in the run's container, so no name is reserved.
 */
export function hookEnv(url: string, a: HookAnswer): Record<string, string> {
  if (a.contentType !== 'application/json') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.text);
  } catch {
    return {};
  }
  const ext = isRecord(parsed) ? parsed['knitfabExtension'] : undefined;
  const env = isRecord(ext) ? ext['env'] : undefined;
  if (env === undefined) return {};
  if (!isRecord(env)) throw new HookEnvInvalid(`hook ${url} answered knitfabExtension.env that is not an object of names and values`);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new HookEnvInvalid(`hook ${url} answered knitfabExtension.env.${JSON.stringify(name)}: not a valid environment variable name (letters, digits and _, not starting with a digit)`);
    if (typeof value !== 'string') throw new HookEnvInvalid(`hook ${url} answered knitfabExtension.env.${name}: the value must be a string, got ${JSON.stringify(value)}`);
    out[name] = value;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Calls the before hooks in order; the first that does not answer 2xx stops the round (HookRefused).
 * Returns the environment they ask for, merged, later hooks winning per name (when `env`).
 */
export async function callBeforeHooks(urls: readonly string[], body: unknown, opts: { timeoutMs: number; signal?: AbortSignal; env: boolean }): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const url of urls) {
    const answer = await postHook(url, body, opts);
    if (answer.status < 200 || answer.status >= 300) throw new HookRefused(url, describeRefusal(answer));
    if (opts.env) Object.assign(env, hookEnv(url, answer));
  }
  return env;
}

/**
 * Calls the after hooks, all at once so a slow one delays the run by one timeout at most; never
 * throws. Returns what went wrong, one line per hook, for the worker's log.
 */
export async function callAfterHooks(urls: readonly string[], body: unknown, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string[]> {
  const results = await Promise.allSettled(
    urls.map(async (url) => {
      const answer = await postHook(url, body, opts);
      if (answer.status < 200 || answer.status >= 300) throw new HookRefused(url, describeRefusal(answer));
    }),
  );
  return results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
}
