import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from './cli.js';
import { createNamespace, deleteNamespace, kubectl, NODE_IP, POD_GATEWAY } from './cluster.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startFakeGcs, type FakeGcs } from './fake-gcs.js';
import { forwardFromPods, type PodForward } from './pod-forward.js';

/** The CI overlay's token (k8s/overlays/ci): what a client outside the cluster must send. */
export const CI_TOKEN = 'knit-ci-token';
export const CI_OVERLAY = join(repoRoot, 'k8s', 'overlays', 'ci');

export type Component = 'knitd' | 'knit-worker';

export interface DeployedPod {
  name: string;
  ip: string;
  ready: boolean;
}

export interface KnitDeployment {
  readonly namespace: string;
  /** KNIT_INSTANCE of this deployment: the label on its Runs' Pods. */
  readonly instance: string;
  /** knitd through its Service's NodePort on the node address, as a client outside the cluster reaches it. */
  readonly url: string;
  readonly token: string;
  readonly db: TestDatabase;
  readonly gcs: FakeGcs;
  readonly bucket: string;
  pods(component: Component): Promise<DeployedPod[]>;
  /** kubectl in the deployment's namespace. */
  kubectl(args: string[]): Promise<string>;
  /** The Pods, logs and events, for a failure message. */
  diagnostics(): Promise<string>;
  close(): Promise<void>;
}

export interface DeployOptions {
  knitd?: number;
  workers?: number;
  /** KNIT_MAX_CONCURRENT_RUNS of each worker. */
  concurrency?: number;
  /** Seconds the rollout may take. */
  rolloutSeconds?: number;
}

/**
 * knit deployed into the dev cluster by its own manifests: `kubectl apply -k` of a kustomization
 * that takes k8s/overlays/ci as it is and sets only what must differ per test: a namespace, a
 * KNIT_INSTANCE, a fresh database on the shared PostgreSQL, the shared Temporal, a bucket on a
 * fake-gcs-server of its own, replica counts, and an automatic NodePort. The host services are
 * reached from the Pods at the pod gateway (forwardFromPods); knitd and the workers run the image
 * scripts/build-knit-image.sh imported.
 */
export async function deployKnit(opts: DeployOptions = {}): Promise<KnitDeployment> {
  const databaseServer = process.env['DATABASE_URL'];
  const temporal = process.env['TEMPORAL_ADDRESS'];
  if (!databaseServer || process.env['KNIT_TEST_DB'] === 'pglite') throw new Error('knit in the cluster needs a PostgreSQL server its Pods can reach: set DATABASE_URL (and not KNIT_TEST_DB=pglite)');
  if (!temporal) throw new Error('knit in the cluster needs TEMPORAL_ADDRESS (scripts/test.sh sets it)');

  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const instance = `d${randomBytes(4).toString('hex')}`;
    const bucket = `knit-${instance}`;
    const namespace = await createNamespace();
    // Last to go: the forwards and the database outlive the Pods that use them.
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const gcs = await startFakeGcs([bucket], { host: POD_GATEWAY });
    cleanups.push(() => gcs.stop());
    const dbUrl = new URL(db.url);
    const pgForward = await forwardFromPods({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
    cleanups.push(() => pgForward.close());
    const [temporalHost, temporalPort] = [temporal.slice(0, temporal.lastIndexOf(':')), Number(temporal.slice(temporal.lastIndexOf(':') + 1))];
    const temporalForward: PodForward = await forwardFromPods({ host: temporalHost, port: temporalPort });
    cleanups.push(() => temporalForward.close());
    cleanups.push(() => deleteNamespace(namespace));
    const podDbUrl = new URL(db.url);
    podDbUrl.host = pgForward.address;

    const dir = await mkdtemp(join(tmpdir(), 'knit-deploy-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const literal = (k: string, v: string | number) => `      - ${k}=${v}`;
    await writeFile(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `namespace: ${namespace}`,
        'resources:',
        `  - ${relative(dir, CI_OVERLAY)}`,
        'configMapGenerator:',
        '  - name: knit-config',
        '    behavior: merge',
        '    literals:',
        literal('TEMPORAL_ADDRESS', temporalForward.address),
        literal('KNIT_INSTANCE', instance),
        literal('KNIT_GCS_ENDPOINT', gcs.endpoint),
        literal('KNIT_GCS_BUCKET', bucket),
        literal('KNIT_MAX_CONCURRENT_RUNS', opts.concurrency ?? 4),
        'secretGenerator:',
        '  - name: knit-secrets',
        '    behavior: merge',
        '    literals:',
        literal('DATABASE_URL', podDbUrl.toString()),
        'replicas:',
        `  - {name: knitd, count: ${opts.knitd ?? 2}}`,
        `  - {name: knit-worker, count: ${opts.workers ?? 2}}`,
        'patches:',
        // Several tests may deploy at once: let the API server pick each one's NodePort.
        '  - target: {kind: Service, name: knitd}',
        '    patch: |-',
        '      - op: remove',
        '        path: /spec/ports/0/nodePort',
        '',
      ].join('\n'),
    );
    await kubectl(['apply', '-k', dir]);
    const ns = (args: string[]) => kubectl(['-n', namespace, ...args]);
    const pods = async (component: Component): Promise<DeployedPod[]> => {
      const list = JSON.parse(await ns(['get', 'pods', '-l', `app.kubernetes.io/name=${component}`, '-o', 'json'])) as {
        items: Array<{ metadata: { name: string; deletionTimestamp?: string }; status: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }>;
      };
      return list.items
        .filter((p) => !p.metadata.deletionTimestamp)
        .map((p) => ({ name: p.metadata.name, ip: p.status.podIP ?? '', ready: (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') }));
    };
    const diagnostics = async () => {
      const parts = await Promise.all([
        ns(['get', 'pods', '-o', 'wide']).catch((e: Error) => e.message),
        ns(['logs', '-l', 'app.kubernetes.io/part-of=knit', '--tail=40', '--prefix', '--all-containers']).catch((e: Error) => e.message),
        ns(['get', 'events', '--sort-by=.lastTimestamp']).then((s) => s.split('\n').slice(-25).join('\n')).catch((e: Error) => e.message),
      ]);
      return parts.join('\n---\n');
    };
    const timeout = `${opts.rolloutSeconds ?? 240}s`;
    try {
      await ns(['rollout', 'status', 'deployment/knitd', `--timeout=${timeout}`]);
      await ns(['rollout', 'status', 'deployment/knit-worker', `--timeout=${timeout}`]);
    } catch (err) {
      throw new Error(`knit did not roll out in ${namespace}: ${(err as Error).message}\n${await diagnostics()}`);
    }
    const nodePort = (await ns(['get', 'service', 'knitd', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim();
    return { namespace, instance, url: `http://${NODE_IP}:${nodePort}`, token: CI_TOKEN, db, gcs, bucket, pods, kubectl: ns, diagnostics, close };
  } catch (err) {
    await close();
    throw err;
  }
}
