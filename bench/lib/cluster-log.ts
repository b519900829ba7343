import { readFileSync } from 'node:fs';

/**
 * The dev cluster's start-up figures as its scripts logged them, when KNIT_BENCH_CLUSTER_LOG
 * names a log of k8s/dev-cluster/start.sh and build.sh output; else where they come from. Read,
 * not measured: restarting the dev cluster would stop everyone else's Pods.
 */
export function clusterStartLines(): string[] {
  const file = process.env['KNIT_BENCH_CLUSTER_LOG'];
  if (!file) {
    return [
      '  dev cluster       start to Ready not measured (it would restart a cluster others use); start.sh logs "<t>s node knit-node Ready"',
      '                    and build.sh "built in N s": set KNIT_BENCH_CLUSTER_LOG to a log of their output to print those figures',
    ];
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`KNIT_BENCH_CLUSTER_LOG: cannot read ${file}: ${(err as Error).message}`);
  }
  const found: Array<[number, string]> = [];
  const each = (re: RegExp, say: (m: RegExpMatchArray) => string) => {
    for (const m of text.matchAll(re)) found.push([m.index, `    ${m[1]} ${say(m)}`]);
  };
  // say() in k8s/dev-cluster/lib.sh: "[dev-cluster HH:MM:SS] …"; start.sh's steps add "<elapsed>s".
  each(/\[dev-cluster ([\d:]+)\]\s+([\d.]+)s node (\S+) Ready/g, (m) => `start.sh: node ${m[3]} Ready ${m[2]} s after start`);
  each(/\[dev-cluster ([\d:]+)\]\s+([\d.]+)s cluster up/g, (m) => `start.sh: cluster up (default ServiceAccount present) ${m[2]} s after start`);
  each(/\[dev-cluster ([\d:]+)\] built in (\d+) s/g, (m) => `build.sh: built in ${m[2]} s`);
  each(/\[dev-cluster ([\d:]+)\] binaries (\S+) already in/g, (m) => `build.sh: binaries ${m[2]} cached, nothing built`);
  if (found.length === 0) return [`  dev cluster       ${file} has no start.sh "node … Ready" nor build.sh "built in" line`];
  return [`  dev cluster       as logged in ${file}:`, ...found.sort((a, b) => a[0] - b[0]).map(([, l]) => l)];
}
