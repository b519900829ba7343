// The console's one way to the API: every call carries the token, and a 401 asks for it.
import { nextCursor } from '../../core/page/link.js';
import { ServerSentEventSplitter, type RawEvent } from '../../core/sse/parse.js';

const TOKEN_KEY = 'knit.token';

export function savedToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token);
}

/** Thrown on 401; the App shows the token prompt (listeners below) and views show the message. */
export class Unauthorized extends Error {}

const unauthorizedListeners = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

function headers(): HeadersInit {
  const t = savedToken();
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** A GET of an /api path; throws with the API's own error message when the answer is not 2xx. */
export async function get(path: string, query: Record<string, string | string[] | undefined> = {}, signal?: AbortSignal): Promise<Response> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of v === undefined ? [] : Array.isArray(v) ? v : [v]) params.append(k, one);
  const qs = params.toString();
  const res = await fetch(`/api/${path}${qs ? `?${qs}` : ''}`, { headers: headers(), signal: signal ?? null });
  if (res.status === 401) {
    for (const fn of unauthorizedListeners) fn();
    throw new Unauthorized(await errorMessage(res));
  }
  if (!res.ok) throw new Error(await errorMessage(res));
  return res;
}

export async function getJson<T>(path: string, query: Record<string, string | string[] | undefined> = {}, signal?: AbortSignal): Promise<T> {
  return (await (await get(path, query, signal)).json()) as T;
}

/** The first `pages` pages of a paginated list, followed by their rel="next" Links; `more` when another follows. */
export async function getList<T>(path: string, query: Record<string, string | string[] | undefined>, pages: number, signal?: AbortSignal): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let after: string | undefined;
  for (let n = 0; n < pages; n++) {
    const res = await get(path, { ...query, after }, signal);
    items.push(...((await res.json()) as T[]));
    after = nextCursor(res.headers.get('link'));
    if (after === undefined) return { items, more: false };
  }
  return { items, more: true };
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    if (body.error?.message) return `${res.status}: ${body.error.message}`;
  } catch {
    // not knit's error JSON: show the text as it is
  }
  return `${res.status}: ${text.slice(0, 300)}`;
}

/**
 * Reads a streamed text answer chunk by chunk (the live log): `onText` gets each piece as it
 * arrives, until the stream ends or `signal` aborts.
 */
export async function streamText(path: string, query: Record<string, string>, onText: (s: string) => void, signal: AbortSignal): Promise<void> {
  const res = await get(path, query, signal);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onText(value);
  }
}

/**
 * Follows a text/event-stream answer (fetch, not EventSource, which cannot send the token):
 * `onEvent` gets each event as it arrives, until the server ends the stream or `signal` aborts.
 */
export async function streamEvents(path: string, query: Record<string, string>, onEvent: (e: RawEvent) => void, signal: AbortSignal): Promise<void> {
  const splitter = new ServerSentEventSplitter();
  await streamText(path, query, (text) => splitter.push(text).forEach(onEvent), signal);
}

/** Downloads a Data's archive with the token (a plain link could not send it), as <id>.tar. */
export async function download(dataId: string): Promise<void> {
  const blob = await (await get(`data/${encodeURIComponent(dataId)}/content`)).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${dataId}.tar`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
