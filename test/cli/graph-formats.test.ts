import test from 'ava';
import { lineageToTree } from '../../core/lineage/tree.js';
import { Lineage } from '../../core/lineage/graph.js';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit, runKnitOnTerminal } from '../helpers/cli.js';
import { lineageFixture } from '../helpers/lineage-graph.js';
import { parseFlowchart } from '../helpers/mermaid.js';

// The real `knit data lineage` and `knit plan graph` against a live API, in each format; the
// default is a tree on a terminal and dot in a pipe.
test('knit data lineage prints a tree, mermaid, dot or JSON, tree by default only on a terminal', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const env = { KNIT_SERVER: api.url };
  const g = await lineageFixture(api.db.pool);
  const a = await g.upload('stage:raw');
  const first = await g.run([a]);
  const failed = await g.run([first.out], { status: 'failed', exitCode: 3 });

  const tree = await runKnit(['data', 'lineage', '--format', 'tree', first.out], { env });
  t.is(tree.code, 0, tree.stderr);
  const lines = tree.stdout.split('\n');
  t.regex(lines[0]!, new RegExp(`^data ${first.out.slice(0, 8)} .*made-by:${first.run.slice(0, 8)}`));
  t.is(lines[1], 'came from:');
  t.regex(tree.stdout, new RegExp(`└─ /out/0 ← run ${first.run.slice(0, 8)}  plan [0-9a-f]{8}  lineage/step1:1  done  exit 0`));
  t.regex(tree.stdout, new RegExp(`/in/0 ← data ${a.slice(0, 8)}  .*stage:raw`));
  t.regex(tree.stdout, /└─ upload\n/);
  t.regex(tree.stdout, new RegExp(`led to:\n└─ /in/0 → run ${failed.run.slice(0, 8)}  plan [0-9a-f]{8}  lineage/step1:1  failed  exit 3`));
  t.regex(tree.stdout, new RegExp(`log → data ${failed.log.slice(0, 8)}`));
  t.notRegex(tree.stdout, /\x1b\[/, 'no colour in a pipe');
  // The CLI prints what the pure renderer makes of the API's lineage.
  const json = await runKnit(['data', 'lineage', '--format', 'json', first.out], { env });
  t.is(tree.stdout, lineageToTree(Lineage.parse(parseJson(json))));

  const always = await runKnit(['data', 'lineage', '--format', 'tree', '--color', 'always', first.out], { env });
  t.regex(always.stdout, /\x1b\[31mfailed\x1b\[0m/);

  const mermaid = await runKnit(['data', 'lineage', '--format', 'mermaid', first.out], { env });
  t.is(mermaid.code, 0, mermaid.stderr);
  const chart = parseFlowchart(mermaid.stdout);
  t.is(chart.nodes.size, 8, 'upload, its Data, two runs, each with an output and a log');
  t.true([...chart.nodes.values()].some((n) => n.cls === 'bad' && n.label.startsWith(`run ${failed.run.slice(0, 8)}`)));

  const piped = await runKnit(['data', 'lineage', first.out], { env });
  t.regex(piped.stdout, /^digraph lineage \{/, 'dot when piped, for | dot -Tsvg');

  const onTerminal = await runKnitOnTerminal(['data', 'lineage', first.out], { env });
  t.is(onTerminal.code, 0, onTerminal.output);
  t.regex(onTerminal.output, /came from:\n/);
  t.regex(onTerminal.output, /\x1b\[32mdone\x1b\[0m/, 'colour on a terminal');
  const noColor = await runKnitOnTerminal(['data', 'lineage', first.out], { env: { ...env, NO_COLOR: '1' } });
  t.regex(noColor.output, /came from:\n/);
  t.notRegex(noColor.output, /\x1b\[/);

  const bad = await runKnit(['data', 'lineage', '--format', 'png', first.out], { env });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /format/);
});

test('knit plan graph prints a tree, mermaid or dot, tree by default only on a terminal', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const env = { KNIT_SERVER: api.url };
  const stage = async (from: string, to: string) =>
    (await api.client.applyPlan({ image: `repo/${from}:1.0`, inputs: [{ path: '/in', tags: [`formats:${from}`] }], outputs: [{ path: '/out', tags: [`formats:${to}`] }] })).plan!.id;
  const a = await stage('a', 'b');
  const b = await stage('b', 'c');

  const tree = await runKnit(['plan', 'graph', '--format', 'tree', a], { env });
  t.is(tree.code, 0, tree.stderr);
  t.is(tree.stdout, `plan ${a.slice(0, 8)}  repo/a:1.0\n└─ /out → /in  plan ${b.slice(0, 8)}  repo/b:1.0\n`);

  const mermaid = await runKnit(['plan', 'graph', '--format', 'mermaid', a], { env });
  t.is(mermaid.code, 0, mermaid.stderr);
  const chart = parseFlowchart(mermaid.stdout);
  t.is(chart.nodes.size, 2);
  t.deepEqual(chart.edges.map((e) => e.label), ['/out → /in']);

  t.regex((await runKnit(['plan', 'graph', a], { env })).stdout, /^digraph plans \{/);
  const onTerminal = await runKnitOnTerminal(['plan', 'graph', a], { env });
  t.is(onTerminal.code, 0, onTerminal.output);
  t.regex(onTerminal.output, new RegExp(`^plan ${a.slice(0, 8)}  repo/a:1\\.0\n└─ /out → /in`, 'm'));
});
