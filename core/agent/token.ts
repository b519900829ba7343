import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The agent token: what lets a run's Pod (its init container and sidecar) read that attempt's
 * inputs and write its outputs, and nothing else. Format: base64url(JSON claims) '.'
 * base64url(HMAC-SHA256(secret, first part)). Stateless, so knitd replicas need only the shared
 * secret (KNIT_AGENT_SECRET), and a token dies with its attempt: the routes also check that the
 * attempt is still the run's current one.
 */

export const MIN_SECRET_LENGTH = 32;

const runId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a run id (a UUID)');
const attempt = z.number().int().positive();

export const AgentClaims = z
  .object({
    runId,
    attempt,
    /** Absent: valid as long as the attempt is the run's current one. */
    expiresAt: z.date().optional(),
  })
  .strict();
export type AgentClaims = z.infer<typeof AgentClaims>;

/** The claims as they travel: short keys, the expiry in whole seconds since the epoch. */
const WireClaims = z.object({ run: runId, attempt, exp: z.number().int().positive().optional() }).strict();

export type AgentTokenProblem = 'malformed' | 'bad_signature' | 'expired';

export class AgentTokenError extends Error {
  constructor(
    readonly problem: AgentTokenProblem,
    message: string,
  ) {
    super(message);
    this.name = 'AgentTokenError';
  }
}

/** Refuses a secret too short to be one, naming the variable it comes from. */
export function checkAgentSecret(secret: string, name = 'KNIT_AGENT_SECRET'): string {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`${name} must be at least ${MIN_SECRET_LENGTH} characters (it is ${secret.length}); generate one with: openssl rand -hex 32`);
  }
  return secret;
}

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

export function mintAgentToken(secret: string, claims: AgentClaims): string {
  checkAgentSecret(secret);
  const c = AgentClaims.parse(claims);
  const wire: z.infer<typeof WireClaims> = { run: c.runId, attempt: c.attempt, ...(c.expiresAt ? { exp: Math.floor(c.expiresAt.getTime() / 1000) } : {}) };
  const payload = Buffer.from(JSON.stringify(wire)).toString('base64url');
  return `${payload}.${sign(secret, payload).toString('base64url')}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The token's claims, or an AgentTokenError saying what is wrong with it. */
export function verifyAgentToken(secret: string, token: string, now: Date = new Date()): AgentClaims {
  checkAgentSecret(secret);
  const parts = token.split('.');
  if (parts.length !== 2 || !BASE64URL.test(parts[0]!) || !BASE64URL.test(parts[1]!)) {
    throw new AgentTokenError('malformed', 'the agent token is not of the form <claims>.<signature>');
  }
  const [payload, signature] = parts as [string, string];
  const expected = sign(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  // Lengths first: timingSafeEqual needs equal lengths, and a signature's length is no secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AgentTokenError('bad_signature', 'the agent token was not signed with this server\'s KNIT_AGENT_SECRET');
  }
  let wire: z.infer<typeof WireClaims>;
  try {
    wire = WireClaims.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    throw new AgentTokenError('malformed', 'the agent token\'s claims are not valid');
  }
  if (wire.exp !== undefined && wire.exp * 1000 <= now.getTime()) {
    throw new AgentTokenError('expired', `the agent token expired at ${new Date(wire.exp * 1000).toISOString()}`);
  }
  return { runId: wire.run, attempt: wire.attempt, ...(wire.exp !== undefined ? { expiresAt: new Date(wire.exp * 1000) } : {}) };
}
