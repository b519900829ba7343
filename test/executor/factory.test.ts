import test from 'ava';
import { createLogger } from '../../core/log/logger.js';
import { LocalBlobStore } from '../../core/storage/local-store.js';
import { readWorkerEnv } from '../../executor/config.js';
import { openExecutor } from '../../executor/factory.js';
import { clusterKubeconfig } from '../helpers/cluster.js';
import { createTestDatabase } from '../helpers/db.js';
import { tempDir } from '../helpers/tmp.js';

const base = { DATABASE_URL: 'postgres://unused' };
const secret = 'k'.repeat(40);

test('the executor is chosen by KNIT_EXECUTOR, and a setting it needs that is missing or wrong is named', (t) => {
  t.is(readWorkerEnv(base).KNIT_EXECUTOR, 'docker');
  t.throws(() => readWorkerEnv({ ...base, KNIT_EXECUTOR: 'podman' }), { message: /^env\.KNIT_EXECUTOR: must be docker or kubernetes/ });
  const k8s = { ...base, KNIT_EXECUTOR: 'kubernetes' };
  t.throws(() => readWorkerEnv(k8s), { message: /env\.KNIT_AGENT_URL: must be set with KNIT_EXECUTOR=kubernetes/ });
  t.throws(() => readWorkerEnv({ ...k8s, KNIT_AGENT_URL: 'http://10.88.0.1:7420' }), { message: /env\.KNIT_AGENT_SECRET: must be set with KNIT_EXECUTOR=kubernetes/ });
  t.throws(() => readWorkerEnv({ ...k8s, KNIT_AGENT_URL: 'ftp://knitd', KNIT_AGENT_SECRET: secret }), { message: /env\.KNIT_AGENT_URL: must be an http\(s\) URL/ });
  t.throws(() => readWorkerEnv({ ...k8s, KNIT_AGENT_URL: 'http://knitd:7420', KNIT_AGENT_SECRET: secret, KNIT_K8S_NAMESPACE: 'Not_A_Namespace' }), { message: /env\.KNIT_K8S_NAMESPACE: must be a Kubernetes namespace name/ });
  const read = readWorkerEnv({ ...k8s, KNIT_AGENT_URL: 'http://knitd:7420', KNIT_AGENT_SECRET: secret, KNIT_K8S_PENDING_TIMEOUT: '90s' });
  t.is(read.KNIT_K8S_PENDING_TIMEOUT, 90_000);
  t.is(read.KNIT_K8S_GPU_RESOURCE, 'nvidia.com/gpu');
});

test('a worker pointed at a namespace it cannot use fails at start, naming the setting', async (t) => {
  const db = await createTestDatabase();
  const dir = await tempDir('knit-factory-');
  t.teardown(async () => {
    await db.drop();
    await dir.cleanup();
  });
  const env = readWorkerEnv({
    ...base,
    KNIT_EXECUTOR: 'kubernetes',
    KNIT_AGENT_URL: 'http://10.88.0.1:1',
    KNIT_AGENT_SECRET: secret,
    KNIT_K8S_KUBECONFIG: clusterKubeconfig(),
    KNIT_K8S_NAMESPACE: 'knit-no-such-namespace',
  });
  const deps = { pool: db.pool, store: new LocalBlobStore(dir.path), log: createLogger('factory', 'silent'), workdir: dir.path };
  const err = await t.throwsAsync(openExecutor(env, deps));
  t.regex(err!.message, /^KNIT_K8S_NAMESPACE: there is no namespace "knit-no-such-namespace" at https:/);
  const missing = await t.throwsAsync(openExecutor({ ...env, KNIT_K8S_KUBECONFIG: '/nonexistent/kubeconfig' }, deps));
  t.regex(missing!.message, /kubeconfig \/nonexistent\/kubeconfig does not exist/);
});
