import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AGENT_ENTRYPOINT, agentImageName } from '../../executor/kubernetes/agent-image/image.js';
import { VERSION } from '../../core/version.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BUILD = join(REPO, 'executor/kubernetes/agent-image/build.sh');

async function sizeOf(path: string): Promise<number> {
  const st = await stat(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

/** `docker run --rm` of one agent command; its exit code and stderr. */
function dockerRun(image: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['run', '--rm', '--network', 'none', image, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('build.sh makes a small rootfs whose node runs the agent, as the image entry point', async (t) => {
  t.is(agentImageName(), `localhost/knit-agent:${VERSION}`);
  const out = await tempDir('knit-agent-rootfs-');
  const image = `knit-agent-test:${randomBytes(4).toString('hex')}`;
  t.teardown(async () => {
    await run('docker', ['rmi', '-f', image]).catch(() => {});
    await out.cleanup();
  });
  const rootfs = join(out.path, 'rootfs');
  await run('bash', [BUILD, rootfs], { timeout: 120_000 });

  // Only what the agent imports: its own code, the parts of core it uses, tar and zod.
  t.deepEqual((await readdir(join(rootfs, 'knit', 'node_modules'))).sort(), ['tar', 'zod']);
  t.deepEqual((await readdir(join(rootfs, 'knit'))).sort(), ['agent', 'core', 'node_modules', 'package.json']);
  t.false((await readdir(join(rootfs, 'knit', 'core'))).includes('db'), 'the agent needs no database code');
  t.true((await sizeOf(join(rootfs, 'knit'))) < 8 << 20, 'the agent itself is a few MB at most');
  t.is((await stat(join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);

  // Building again over its own output works (idempotent); over a foreign folder it refuses.
  await run('bash', [BUILD, rootfs], { timeout: 120_000 });
  await t.throwsAsync(run('bash', [BUILD, REPO]), { message: /is not empty and was not made by this script/ });

  const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const imp = spawn('docker', ['import', '-c', `ENTRYPOINT ${JSON.stringify(AGENT_ENTRYPOINT)}`, '-', image], { stdio: ['pipe', 'ignore', 'inherit'] });
  tar.stdout.pipe(imp.stdin);
  t.is(await new Promise<number | null>((resolve) => imp.once('exit', resolve)), 0);

  const notReady = await dockerRun(image, ['ready']);
  t.is(notReady.code, 1);
  t.regex(notReady.stderr, /not ready: no pid file \/tmp\/knit-keep\.pid/);
  // In a plain container PID 1 is the agent itself, not a Pod's pause process.
  const stop = await dockerRun(image, ['stop']);
  t.is(stop.code, 2);
  t.regex(stop.stderr, /refusing to stop: PID 1 is "\/usr\/local\/bin\/node \/knit\/agent\/main\.js stop"/);
});
