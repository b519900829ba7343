import test from 'ava';
import { spawnSync } from 'node:child_process';
import type { Lineage } from '../../core/lineage/graph.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { TestStack, terminal } from '../helpers/stack.js';

let s: TestStack;
test.before(async () => {
  s = await TestStack.start();
});
test.after.always(() => s?.close());

test.serial('a chain of three plans fires in sequence from one push, and its lineage traces both ways', async (t) => {
  const a = await s.plan({ script: 'cat /in/x/raw > /out/y/a; echo a >> /out/y/a', inputs: [{ path: '/in/x', tags: ['chain:raw'] }], outputs: [{ path: '/out/y', tags: ['chain:a'] }], log: { tags: ['chain:log'] } });
  const b = await s.plan({ script: 'cat /in/x/a > /out/y/b; echo b >> /out/y/b', inputs: [{ path: '/in/x', tags: ['chain:a'] }], outputs: [{ path: '/out/y', tags: ['chain:b'] }] });
  const c = await s.plan({ script: 'cat /in/x/b > /out/y/c; echo c >> /out/y/c', inputs: [{ path: '/in/x', tags: ['chain:b'] }], outputs: [{ path: '/out/y', tags: ['chain:c'] }] });
  const upload = await s.push({ raw: 'raw\n' }, ['chain:raw']);

  const runs = await s.waitRuns('three runs done', (rs) => rs.length === 3 && rs.every(terminal), { plans: [a.id, b.id, c.id] });
  t.true(runs.every((r) => r.status === 'done'), JSON.stringify(runs.map((r) => r.message)));
  const byPlan = (id: string) => runs.find((r) => r.plan.id === id)!;
  const [ra, rb, rc] = [byPlan(a.id), byPlan(b.id), byPlan(c.id)];
  t.true(Date.parse(ra.finishedAt!) <= Date.parse(rb.startedAt!), 'b started after a finished');
  t.true(Date.parse(rb.finishedAt!) <= Date.parse(rc.startedAt!), 'c started after b finished');
  t.is(rb.inputs[0]!.dataId, ra.outputs[0]!.dataId!);
  t.is(rc.inputs[0]!.dataId, rb.outputs[0]!.dataId!);
  const last = rc.outputs[0]!.dataId!;

  const env = { KNIT_SERVER: s.url };
  const up = parseJson<Lineage>(await runKnit(['data', 'lineage', '-u', '-n', 'all', '--format', 'json', last], { env }));
  const runIds = up.nodes.filter((n) => n.kind === 'run' && !n.upload).map((n) => n.id).sort();
  t.deepEqual(runIds, [ra.id, rb.id, rc.id].sort());
  t.true(up.nodes.some((n) => n.kind === 'run' && n.upload), 'the upload is the root run');
  t.true(up.edges.some((e) => e.to === upload.id && e.label === 'upload'));
  t.true(up.edges.some((e) => e.from === upload.id && e.to === ra.id && e.label === '/in/x'));
  t.true(up.edges.some((e) => e.from === rc.id && e.to === last && e.label === '/out/y'));
  t.true(up.edges.some((e) => e.from === ra.id && e.to === ra.log.dataId! && e.label === 'log'));

  const down = parseJson<Lineage>(await runKnit(['data', 'lineage', '-d', '-n', 'all', '--format', 'json', upload.id], { env }));
  t.true(down.nodes.some((n) => n.id === last), 'the last output is downstream of the upload');
  t.deepEqual(down.nodes.filter((n) => n.kind === 'run' && !n.upload).map((n) => n.id).sort(), runIds);

  // Depth: one generation up from the last output reaches c and its input only.
  const one = parseJson<Lineage>(await runKnit(['data', 'lineage', '-u', '-n', '1', '--format', 'json', last], { env }));
  t.deepEqual(one.nodes.filter((n) => n.kind === 'run').map((n) => n.id), [rc.id]);

  // Both directions and depth 3 by default, as Graphviz dot that renders.
  const dot = await runKnit(['data', 'lineage', rb.outputs[0]!.dataId!], { env });
  t.is(dot.code, 0, dot.stderr);
  t.regex(dot.stdout, /^digraph lineage \{/);
  for (const r of [ra, rb, rc]) t.true(dot.stdout.includes(`"${r.id}"`));
  const rendered = spawnSync('dot', ['-Tsvg'], { input: dot.stdout, encoding: 'utf8' });
  t.is(rendered.status, 0, rendered.stderr);
  t.regex(rendered.stdout, /<svg/);
});
