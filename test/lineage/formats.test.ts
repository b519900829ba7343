import test from 'ava';
import { lineageToDot } from '../../core/lineage/dot.js';
import { lineageToMermaid } from '../../core/lineage/mermaid.js';
import { lineageToTree } from '../../core/lineage/tree.js';
import { mermaidLabel } from '../../core/mermaid/quote.js';
import { planGraphToDot } from '../../core/plan/graph-dot.js';
import { planGraphToMermaid } from '../../core/plan/graph-mermaid.js';
import { planGraphToTree } from '../../core/plan/graph-tree.js';
import { shortIds } from '../../core/render/short-id.js';
import { drawTree, type TreeItem } from '../../core/render/tree.js';
import { graphFormat, wantsColor } from '../../cli/graph-format.js';
import { assertGolden } from '../helpers/golden.js';
import { parseFlowchart } from '../helpers/mermaid.js';
import { ids, sampleLineage, samplePlanGraph } from '../helpers/sample-graphs.js';

// Every format of a known lineage and plan graph, compared byte for byte with the files under
// test/fixtures/golden/ (KNIT_UPDATE_GOLDEN=1 rewrites them).
test('lineage formats match their golden files', async (t) => {
  await assertGolden(t, 'lineage.tree', lineageToTree(sampleLineage));
  await assertGolden(t, 'lineage.color.tree', lineageToTree(sampleLineage, { color: true }));
  await assertGolden(t, 'lineage.dot', lineageToDot(sampleLineage));
  await assertGolden(t, 'lineage.mmd', lineageToMermaid(sampleLineage));
  await assertGolden(t, 'lineage.json', `${JSON.stringify(sampleLineage, null, 2)}\n`);
});

test('plan graph formats match their golden files', async (t) => {
  await assertGolden(t, 'plan-graph.tree', planGraphToTree(samplePlanGraph));
  await assertGolden(t, 'plan-graph.dot', planGraphToDot(samplePlanGraph));
  await assertGolden(t, 'plan-graph.mmd', planGraphToMermaid(samplePlanGraph));
  await assertGolden(t, 'plan-graph.json', `${JSON.stringify(samplePlanGraph, null, 2)}\n`);
});

// What the golden files hold, said as properties, so a careless KNIT_UPDATE_GOLDEN=1 cannot bless a broken tree.
test('the lineage tree roots at the Data, walks back to the uploads, and draws a diamond once', (t) => {
  const tree = lineageToTree(sampleLineage);
  const lines = tree.split('\n');
  t.regex(lines[0]!, /^data c3c3c3c3 {2}type:clean {2}project:iris {2}2026-01-02T03:05:00\.000Z$/);
  t.is(lines[1], 'came from:');
  t.true(lines.includes('└─ /out/clean ← run 11111111  plan 9a9a9a9a  knit/prep:1  done  exit 0'));
  t.true(lines.some((l) => /^ {3}└─ \/in\/raw ← data a1a1a1a1 .*note:say "hi" <b>#1<\/b>/.test(l)));
  t.true(lines.includes('      └─ upload'), 'the input-less upload is shown as the root');
  t.notRegex(tree, /knit#/, 'system tags are shown as the id and time, not repeated');
  const ledTo = lines.indexOf('led to:');
  t.true(ledTo > 1);
  // The report run is reached through train and through evaluate: in full once, then referred to.
  t.is(lines.filter((l) => l.includes('run 44444444  plan')).length, 1);
  t.is(lines.filter((l) => /run 44444444 \(see above\)$/.test(l)).length, 1);
  t.true(lines.some((l) => l.includes('run 33333333  plan 9c9c9c9c  knit/eval:1  failed  exit 2')));
  t.true(lines.some((l) => l.includes('/out/metrics → data e5e5e5e5-0  type:metrics  2026-01-02T03:06:30.000Z  [failed]')));
  t.true(lines.some((l) => l.includes('log → data e5e5e5e5-1  type:log')), 'a log edge, with ids that share 8 characters told apart');
  t.true(lines.some((l) => l.includes('running  no exit code')));
  t.notRegex(tree, /\x1b\[/, 'no colour unless asked');
  const colored = lineageToTree(sampleLineage, { color: true });
  t.regex(colored, /\x1b\[32mdone\x1b\[0m/);
  t.regex(colored, /\x1b\[31mfailed\x1b\[0m/);
  t.regex(colored, /\x1b\[33mrunning\x1b\[0m/);
});

test('the mermaid flowcharts parse: every node once, every edge between defined nodes, quotes escaped', (t) => {
  const chart = parseFlowchart(lineageToMermaid(sampleLineage));
  t.is(chart.nodes.size, sampleLineage.nodes.length);
  t.is(chart.edges.length, sampleLineage.edges.length);
  const shapes = [...chart.nodes.values()];
  t.is(shapes.filter((n) => n.shape === 'box').length, sampleLineage.nodes.filter((n) => n.kind === 'data').length);
  t.is(shapes.filter((n) => n.shape === 'circle' && n.label === 'upload').length, 2);
  t.true(shapes.some((n) => n.shape === 'stadium' && n.cls === 'bad' && n.label.includes('failed (exit 2)')));
  t.true(shapes.some((n) => n.cls === 'root' && n.label.startsWith('data c3c3c3c3')));
  t.true(shapes.some((n) => n.label.includes('note:say #quot;hi#quot; #lt;b#gt;#35;1#lt;/b#gt;')));
  t.true(chart.edges.some((e) => e.label === 'log'));
  const plans = parseFlowchart(planGraphToMermaid(samplePlanGraph));
  t.is(plans.nodes.size, samplePlanGraph.plans.length);
  t.is(plans.edges.length, samplePlanGraph.edges.length);
  t.is([...plans.nodes.values()].filter((n) => n.cls === 'inactive').length, 1);
  t.is(mermaidLabel('a "b"\n#c;'), '"a #quot;b#quot;<br/>#35;c;"');
});

test('the plan tree starts at the plans nothing feeds, refers back on a diamond and ends a cycle', (t) => {
  const lines = planGraphToTree(samplePlanGraph).split('\n');
  t.is(lines[0], 'plan 9a9a9a9a  knit/prep:1');
  t.is(lines.filter((l) => l.includes('plan 9d9d9d9d  knit/report:1')).length, 1);
  t.true(lines.filter((l) => l.endsWith('plan 9d9d9d9d (see above)')).length >= 1);
  t.true(lines.includes('plan 9e9e9e9e  knit/old "v0":1  (inactive)'));
  // Both plans of the cycle are fed, so the first starts a tree and the second leads back to it.
  t.true(lines.includes('plan 9f9f9f9f  knit/loop-a:1'));
  t.true(lines.includes('└─ /out → /in  plan 90909090  knit/loop-b:1'));
  t.true(lines.includes('   └─ /out → /in  plan 9f9f9f9f (see above)'));
});

test('short ids are 8 characters, longer only where ids share them', (t) => {
  const s = shortIds(['abcdefgh-1', 'abcdefgh-2', 'abcdefgx-0', '12345678-0']);
  t.deepEqual(Object.fromEntries(s), { '12345678-0': '12345678', 'abcdefgh-1': 'abcdefgh-1', 'abcdefgh-2': 'abcdefgh-2', 'abcdefgx-0': 'abcdefgx' });
  t.is(shortIds([ids.evalOut]).get(ids.evalOut), 'e5e5e5e5');
});

test('a tree 20,000 deep draws without overflowing the stack', (t) => {
  const chain = (i: number): TreeItem => ({ key: String(i), line: `n${i}`, children: () => (i < 20_000 ? [chain(i + 1)] : []) });
  const lines = drawTree([chain(0)], new Set());
  t.is(lines.length, 20_001);
  t.is(lines.at(-1)!.trim(), '└─ n20000');
});

test('the default format is tree on a terminal and dot in a pipe; colour only on a terminal without NO_COLOR', (t) => {
  t.is(graphFormat({}, { isTTY: true }), 'tree');
  t.is(graphFormat({}, { isTTY: false }), 'dot');
  t.is(graphFormat({}, {}), 'dot');
  t.is(graphFormat({ format: 'mermaid' }, { isTTY: true }), 'mermaid');
  t.throws(() => graphFormat({ format: 'png' }, {}));
  t.true(wantsColor({ color: 'auto' }, { isTTY: true }, {}));
  t.false(wantsColor({ color: 'auto' }, { isTTY: true }, { NO_COLOR: '1' }));
  t.true(wantsColor({ color: 'auto' }, { isTTY: true }, { NO_COLOR: '' }), 'an empty NO_COLOR is unset, as no-color.org says');
  t.false(wantsColor({ color: 'auto' }, { isTTY: false }, {}));
  t.true(wantsColor({ color: 'always' }, { isTTY: false }, { NO_COLOR: '1' }));
  t.false(wantsColor({ color: 'never' }, { isTTY: true }, {}));
});
