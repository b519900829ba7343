import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lineage } from '../../core/lineage/graph.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { kubectl, withNamespace } from '../helpers/cluster.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** The Pods of a stack's knit instance that the API server still has. */
async function podsOf(ns: string, instance: string): Promise<string[]> {
  const out = await kubectl(['get', 'pods', '-n', ns, '-l', `knit.instance=${instance}`, '-o', 'name']);
  return out.split('\n').filter((l) => l.trim() !== '');
}

async function readOutput(s: TestStack, dataId: string, file: string): Promise<string> {
  const dir = await tempDir('knit-k8s-pull-');
  try {
    const pulled = await s.client.pullData(dataId, dir.path, { extract: true });
    return await readFile(join(pulled.path, file), 'utf8');
  } finally {
    await dir.cleanup();
  }
}

// The sample two-stage pipeline, with each run a Pod on the real dev cluster: inputs fetched by
// knit's agent into the Pod, outputs uploaded back, the log read from the Pod log API.
test('a two-stage pipeline runs as Pods: outputs, logs and lineage as on Docker, and no Pod left', async (t) => {
  const ns = await withNamespace(t);
  const s = await TestStack.start({ kubernetes: { namespace: ns } });
  t.teardown(() => s.close());
  const a = await s.plan({
    script: 'echo preparing; cat /in/x/raw > /out/y/a; echo a >> /out/y/a; mkdir /out/y/sub; echo deep > /out/y/sub/f; echo prepared >&2',
    inputs: [{ path: '/in/x', tags: ['k8s:raw'] }],
    outputs: [{ path: '/out/y', tags: ['k8s:a'] }],
    log: { tags: ['k8s:log'] },
  });
  const b = await s.plan({
    script: 'cat /in/x/a /in/x/sub/f > /out/y/b; echo b >> /out/y/b; echo trained',
    inputs: [{ path: '/in/x', tags: ['k8s:a'] }],
    outputs: [{ path: '/out/y', tags: ['k8s:b'] }],
  });
  const upload = await s.push({ raw: 'raw\n' }, ['k8s:raw']);

  const runs = await s.waitRuns('both runs to end', (rs) => rs.length === 2 && rs.every(terminal), { plans: [a.id, b.id] }, 240_000);
  t.true(runs.every((r) => r.status === 'done'), JSON.stringify(runs.map((r) => r.message)));
  const ra = runs.find((r) => r.plan.id === a.id)!;
  const rb = runs.find((r) => r.plan.id === b.id)!;
  t.is(rb.inputs[0]!.dataId, ra.outputs[0]!.dataId!);
  t.is(await readOutput(s, ra.outputs[0]!.dataId!, 'a'), 'raw\na\n');
  t.is(await readOutput(s, ra.outputs[0]!.dataId!, 'sub/f'), 'deep\n');
  t.is(await readOutput(s, rb.outputs[0]!.dataId!, 'b'), 'raw\na\ndeep\nb\n');

  // The stored log: what the container wrote, raw; beside it one "<RFC 3339 time> <stream>" line per line.
  t.is(await readOutput(s, ra.log.dataId!, 'log'), 'preparing\nprepared\n');
  const index = (await readOutput(s, ra.log.dataId!, 'log.index')).trim().split('\n').filter((l) => !/^\S+ knit /.test(l));
  t.is(index.length, 2);
  for (const l of index) t.regex(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z stdout$/);

  const env = { KNIT_SERVER: s.url };
  const up = parseJson<Lineage>(await runKnit(['data', 'lineage', '-u', '-n', 'all', '--format', 'json', rb.outputs[0]!.dataId!], { env }));
  t.deepEqual(up.nodes.filter((n) => n.kind === 'run' && !n.upload).map((n) => n.id).sort(), [ra.id, rb.id].sort());
  t.true(up.edges.some((e) => e.from === upload.id && e.to === ra.id && e.label === '/in/x'));
  t.true(up.edges.some((e) => e.from === ra.id && e.to === ra.log.dataId! && e.label === 'log'));

  await waitFor('the Pods to be removed', async () => (await podsOf(ns, s.instance)).length === 0, 60_000);
  t.pass();
});
