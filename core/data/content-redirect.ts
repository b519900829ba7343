import { z } from 'zod';

/**
 * The download of a Data archive by signed URL (GET /api/data/{id}/content). A client that can
 * follow one and verify what it gets sends ACCEPT_REDIRECT; a store that can sign then answers
 * 307 to the object itself, with the archive's digest and size in headers. Clients that do not
 * ask (curl, Knitfab's CLI) keep getting the bytes from knitd. A header rather than a query
 * parameter, so that knit's client still works against a knitd that predates it (routes
 * refuse unknown query parameters; unknown headers are ignored).
 */
export const ACCEPT_REDIRECT = 'x-knit-accept-redirect';
export const SIGNED_URL = 'signed-url';
export const DIGEST_HEADER = 'x-knit-digest';
/** The archive's size with a redirect, whose own content-length is its (empty) body's. */
export const SIZE_HEADER = 'x-knit-size';

export const ContentRequestHeaders = z.object({
  [ACCEPT_REDIRECT]: z.literal(SIGNED_URL, { error: `must be ${SIGNED_URL} (the only redirect knit's client follows), or not sent` }).optional(),
});

/** What a redirect to a signed URL carries: where the bytes are, and what they must hash to. */
export const SignedRedirect = z.object({
  location: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  [DIGEST_HEADER]: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>'),
  [SIZE_HEADER]: z.string().regex(/^\d+$/, 'must be a byte count').transform(Number),
});
export type SignedRedirect = z.output<typeof SignedRedirect>;
