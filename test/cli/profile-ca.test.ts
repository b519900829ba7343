import test from 'ava';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { runKnitfabCli } from '../helpers/knitfab-cli.js';
import { tempDir } from '../helpers/tmp.js';

const TOKEN = 'profile-ca-token';

/** A TLS front for knitd with a certificate of its own authority, as a Knitfab install hands out. */
async function tlsFront(target: string, dir: string): Promise<{ url: string; caPem: string; server: Server }> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=knit-test-ca', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const caPem = await readFile(cert, 'utf8');
  const upstream = new URL(target);
  const server = createServer({ key: await readFile(key), cert: caPem }, (req, res) => {
    const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `https://127.0.0.1:${port}`, caPem, server };
}

// A Knitfab profile's cert.ca (a base64 PEM) is the authority knit trusts for its https server,
// as Knitfab's CLI does; without it the untrusted certificate is refused, and the error says where it goes.
test('knit trusts the CA of a Knitfab profile for its https server, and only with it', async (t) => {
  const api = await startTestApi({ token: TOKEN });
  t.teardown(() => api.close());
  const dir = await tempDir('knit-profile-ca-');
  t.teardown(dir.cleanup);
  const front = await tlsFront(api.url, dir.path);
  t.teardown(() => front.server.close());
  const apiRoot = `https://kf:${TOKEN}@${front.url.slice('https://'.length)}/knitfab/api`;
  const store = join(dir.path, 'store.yaml');
  await writeFile(store, `trusted:\n  apiRoot: ${apiRoot}\n  cert:\n    ca: ${Buffer.from(front.caPem).toString('base64')}\nuntrusted:\n  apiRoot: ${apiRoot}\n`);
  const env = { KNIT_HOME: join(dir.path, 'home'), KNIT_PROFILE_STORE: store };

  const trusted = await runKnit(['--profile', 'trusted', 'data', 'find'], { env, cwd: dir.path });
  t.is(trusted.code, 0, trusted.stderr);
  t.deepEqual(parseJson(trusted), []);
  const kf = await runKnitfabCli(['--profile-store', store, '--profile', 'trusted', 'data', 'find', '-t', 'a:b'], { cwd: dir.path });
  t.is(kf.code, 0, kf.stderr);

  const untrusted = await runKnit(['--profile', 'untrusted', 'data', 'find'], { env, cwd: dir.path });
  t.is(untrusted.code, 1);
  t.regex(untrusted.stderr, /certificate/);
  t.regex(untrusted.stderr, /cert\.ca/);
});
