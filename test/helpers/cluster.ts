import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The dev cluster's pod bridge gateway (k8s/dev-cluster/lib.sh): the host as Pods reach it. */
export const POD_GATEWAY = '10.88.0.1';
/** The dev cluster's node address, where NodePorts answer. */
export const NODE_IP = '10.87.0.1';

/**
 * The dev cluster the Kubernetes tests run on (k8s/dev-cluster). `.ci/run` starts it and sets
 * KNIT_TEST_KUBECONFIG; without it these tests fail rather than pass without having run.
 */
export function clusterKubeconfig(): string {
  const path = process.env['KNIT_TEST_KUBECONFIG'];
  if (!path) {
    throw new Error('KNIT_TEST_KUBECONFIG is not set: start the dev cluster (bash k8s/dev-cluster/build.sh && bash k8s/dev-cluster/start.sh) and export KNIT_TEST_KUBECONFIG=/var/lib/knit-k8s/kubeconfig/admin.conf');
  }
  return path;
}

const KUBECTL = process.env['KNIT_TEST_KUBECTL'] ?? '/var/cache/knit/k8s/bin/kubectl';

/** Runs kubectl against the dev cluster; stdin, when given, is written to it. */
export async function kubectl(args: string[], stdin?: string): Promise<string> {
  const child = run(KUBECTL, ['--kubeconfig', clusterKubeconfig(), ...args], { maxBuffer: 16 << 20 });
  if (stdin !== undefined) {
    child.child.stdin!.end(stdin);
  }
  return (await child).stdout;
}

/** A fresh namespace of a test's own. */
export async function createNamespace(): Promise<string> {
  const ns = `knit-test-${randomBytes(4).toString('hex')}`;
  await kubectl(['create', 'namespace', ns]);
  return ns;
}

/** Deletes a test's namespace without waiting, its Pods at once. */
export async function deleteNamespace(ns: string): Promise<void> {
  // A Pod's own grace period is an hour (its sidecar's upload time): a namespace deleted with
  // Pods in it would keep them, running, that long. Test Pods go at once.
  await kubectl(['delete', 'pods', '--all', '-n', ns, '--grace-period=0', '--force', '--wait=false']).catch(() => '');
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
}

/** A fresh namespace for one test, deleted (without waiting) when it ends. */
export async function withNamespace(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const ns = await createNamespace();
  t.teardown(() => deleteNamespace(ns));
  return ns;
}
