import test from 'ava';
import { randomUUID } from 'node:crypto';
import { AgentTokenError, mintAgentToken, verifyAgentToken } from '../../core/agent/token.js';
import { readServerEnv } from '../../core/config/config.js';

const SECRET = 'x'.repeat(32);
const runId = randomUUID();

test('a minted token verifies to its claims', (t) => {
  const token = mintAgentToken(SECRET, { runId, attempt: 3 });
  t.regex(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  t.deepEqual(verifyAgentToken(SECRET, token), { runId, attempt: 3 });
  const expiresAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 60_000);
  t.deepEqual(verifyAgentToken(SECRET, mintAgentToken(SECRET, { runId, attempt: 1, expiresAt })), { runId, attempt: 1, expiresAt });
});

test('a tampered token, or one of another secret, is refused', (t) => {
  const token = mintAgentToken(SECRET, { runId, attempt: 1 });
  const [payload, sig] = token.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ run: runId, attempt: 2 })).toString('base64url');
  const bad = (tok: string) => t.throws(() => verifyAgentToken(SECRET, tok), { instanceOf: AgentTokenError });
  t.is(bad(`${forged}.${sig}`)?.problem, 'bad_signature');
  // One flipped character of the signature.
  t.is(bad(`${payload}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`)?.problem, 'bad_signature');
  t.is(bad(`${payload}.${sig.slice(0, -4)}`)?.problem, 'bad_signature');
  t.is(bad(token.replace('.', ''))?.problem, 'malformed');
  t.is(bad('')?.problem, 'malformed');
  t.is(t.throws(() => verifyAgentToken('y'.repeat(32), token), { instanceOf: AgentTokenError })?.problem, 'bad_signature');
});

test('an expired token is refused', (t) => {
  const token = mintAgentToken(SECRET, { runId, attempt: 1, expiresAt: new Date(Date.now() + 10_000) });
  t.is(verifyAgentToken(SECRET, token).attempt, 1);
  const err = t.throws(() => verifyAgentToken(SECRET, token, new Date(Date.now() + 20_000)), { instanceOf: AgentTokenError });
  t.is(err?.problem, 'expired');
});

test('a short secret is refused, naming KNIT_AGENT_SECRET', (t) => {
  t.throws(() => mintAgentToken('short', { runId, attempt: 1 }), { message: /KNIT_AGENT_SECRET must be at least 32 characters/ });
  t.throws(() => verifyAgentToken('short', 'a.b'), { message: /KNIT_AGENT_SECRET/ });
  t.throws(() => readServerEnv({ KNIT_AGENT_SECRET: 'short' }), { message: /env\.KNIT_AGENT_SECRET: must be at least 32 characters/ });
  t.is(readServerEnv({ KNIT_AGENT_SECRET: SECRET }).KNIT_AGENT_SECRET, SECRET);
  t.is(readServerEnv({}).KNIT_AGENT_SECRET, undefined);
});

test('claims are checked when minting', (t) => {
  t.throws(() => mintAgentToken(SECRET, { runId: 'not-a-uuid', attempt: 1 }));
  t.throws(() => mintAgentToken(SECRET, { runId, attempt: 0 }));
});
