import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readWorkerEnv } from '../../executor/config.js';
import type { RunDetail } from '../../core/run/model.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * What a run's container can reach and do, read from inside it (real Docker, the busybox test
 * image): by default no network, few capabilities, no privilege gain, a pids limit; a plan that
 * asks for the network gets it; a deployment's knobs change each default.
 */
let s: TestStack;
test.before(async () => {
  s = await TestStack.start();
});
test.after.always(() => s?.close());

// Capability bits (linux/capability.h).
const CAP = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, NET_BIND_SERVICE: 10, NET_RAW: 13, SYS_CHROOT: 18, SYS_PTRACE: 19, SYS_ADMIN: 21, MKNOD: 27, SETFCAP: 31 } as const;
const mask = (...names: Array<keyof typeof CAP>) => names.reduce((m, n) => m | (1n << BigInt(CAP[n])), 0n);

/** Writes what the container sees of itself into its output, one file per probe. */
const PROBE = [
  'ls /sys/class/net > /out/o/net',
  // An address outside (TEST-NET-1): without a route, the connect fails at once.
  '(nc -w 2 192.0.2.1 80 </dev/null 2>&1; ip route) > /out/o/connect',
  'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status > /out/o/status',
  'cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null | head -1 > /out/o/pids',
  'id -u > /out/o/uid',
  '(touch /root-write 2>/dev/null && echo writable || echo read-only) > /out/o/rootfs',
  '(touch /tmp/x 2>/dev/null && echo writable || echo read-only) > /out/o/tmp',
].join('; ');

async function probe(tag: string, opts: { network?: boolean } = {}): Promise<Record<string, string>> {
  const p = await s.plan({ script: PROBE, inputs: [{ path: '/in', tags: [`case:${tag}`] }], outputs: [{ path: '/out/o', tags: [`case:${tag}-out`] }], ...opts });
  await s.push({ a: '1' }, [`case:${tag}`]);
  const [run] = await s.waitRuns(`the ${tag} probe to end`, (rs) => rs.length === 1 && terminal(rs[0]!), { plans: [p.id] });
  if (run!.status !== 'done') throw new Error(`the probe ${run!.status}: ${run!.message}`);
  return contents(run!);
}

async function contents(run: RunDetail): Promise<Record<string, string>> {
  const dir = await tempDir();
  try {
    const r = await s.client.pullData(run.outputs[0]!.dataId!, dir.path, { extract: true });
    const out: Record<string, string> = {};
    for (const f of ['net', 'connect', 'status', 'pids', 'uid', 'rootfs', 'tmp']) out[f] = (await readFile(join(r.path, f), 'utf8')).trim();
    return out;
  } finally {
    await dir.cleanup();
  }
}

const field = (status: string, name: string) => new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(status)?.[1];
const capsOf = (status: string, name: 'CapEff' | 'CapBnd') => BigInt(`0x${field(status, name)}`);

test.serial('by default a run has no network, only a few capabilities, no privilege gain and a pids limit', async (t) => {
  const seen = await probe('default');
  t.deepEqual(seen['net']!.split(/\s+/), ['lo'], 'no interface but loopback');
  t.regex(seen['connect']!, /Network is unreachable/);
  t.notRegex(seen['connect']!, /default via/, 'no route out');
  const kept = mask('CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID');
  t.is(capsOf(seen['status']!, 'CapEff'), kept, 'exactly the documented set (KNIT_CAP_ADD)');
  t.is(capsOf(seen['status']!, 'CapBnd'), kept, 'and nothing more can be regained');
  for (const cap of ['NET_RAW', 'NET_BIND_SERVICE', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_CHROOT', 'MKNOD', 'SETFCAP'] as const) {
    t.is(capsOf(seen['status']!, 'CapBnd') & mask(cap), 0n, `no CAP_${cap}`);
  }
  t.is(field(seen['status']!, 'NoNewPrivs'), '1');
  t.is(seen['pids'], '4096');
  t.is(seen['uid'], '0', "the image's own user");
  t.is(seen['rootfs'], 'writable', 'the root filesystem stays writable: ML images write caches under $HOME');
});

test.serial('a plan that asks for the network gets it', async (t) => {
  const seen = await probe('network', { network: true });
  t.true(seen['net']!.split(/\s+/).includes('eth0'), seen['net']);
  t.true(seen['net']!.split(/\s+/).includes('lo'));
  t.regex(seen['connect']!, /default via/, 'a route out, to the host and beyond');
  t.is(field(seen['status']!, 'NoNewPrivs'), '1', 'the rest of the isolation holds');
});

test.serial("each default is a deployment's knob: capabilities, pids limit, no-new-privileges, read-only root, user", async (t) => {
  await s.stopWorker();
  await s.startWorker({ KNIT_CAP_ADD: '', KNIT_PIDS_LIMIT: '64', KNIT_NO_NEW_PRIVILEGES: 'false', KNIT_READONLY_ROOTFS: 'true', KNIT_CONTAINER_USER: '1234:1234' });
  t.teardown(async () => {
    await s.stopWorker();
    await s.startWorker();
  });
  const seen = await probe('knobs');
  t.is(capsOf(seen['status']!, 'CapBnd'), 0n, 'no capability at all');
  t.is(field(seen['status']!, 'NoNewPrivs'), '0');
  t.is(seen['pids'], '64');
  t.is(seen['uid'], '1234', 'runs as the configured user, and may still write its outputs');
  t.is(seen['rootfs'], 'read-only');
  t.is(seen['tmp'], 'writable', 'a tmpfs on /tmp');
});

test.serial('a worker refuses to start with a KNIT_NETWORK its Docker engine does not have', async (t) => {
  await s.stopWorker();
  t.teardown(() => s.startWorker().then(() => {}));
  const err = await t.throwsAsync(s.startWorker({ KNIT_NETWORK: `knit-no-such-network-${s.instance}` }));
  t.regex(err!.message, /KNIT_NETWORK: the Docker engine has no network "knit-no-such-network-/);
});

test('isolation settings that cannot be applied are refused when the worker reads its environment, naming the variable', (t) => {
  const env = { DATABASE_URL: 'postgres://unused' };
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ KNIT_CAP_ADD: 'ALL' }, /^env\.KNIT_CAP_ADD: .*not ALL/],
    [{ KNIT_CAP_ADD: 'CHOWN,net raw' }, /^env\.KNIT_CAP_ADD: /],
    [{ KNIT_PIDS_LIMIT: '-1' }, /^env\.KNIT_PIDS_LIMIT: /],
    [{ KNIT_NO_NEW_PRIVILEGES: 'yes' }, /^env\.KNIT_NO_NEW_PRIVILEGES: must be true or false/],
    [{ KNIT_CONTAINER_USER: 'root' }, /^env\.KNIT_CONTAINER_USER: must be uid/],
    [{ KNIT_NETWORK: 'host net' }, /^env\.KNIT_NETWORK: /],
    [{ KNIT_MAX_CPU: 'lots' }, /^env\.KNIT_MAX_CPU: must be a quantity/],
    [{ KNIT_MAX_MEMORY: '0' }, /^env\.KNIT_MAX_MEMORY: must be a quantity/],
  ];
  for (const [extra, message] of refused) t.throws(() => readWorkerEnv({ ...env, ...extra }), { message }, JSON.stringify(extra));
  const read = readWorkerEnv({ ...env, KNIT_CAP_ADD: 'cap_chown, SETUID', KNIT_MAX_CPU: '1500m', KNIT_MAX_MEMORY: '64Gi' });
  t.deepEqual(read.KNIT_CAP_ADD, ['CHOWN', 'SETUID']);
  t.is(read.KNIT_MAX_CPU, 1.5);
  t.is(read.KNIT_MAX_MEMORY, 64 * 2 ** 30);
});
