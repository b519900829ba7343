import test from 'ava';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';

interface Graph {
  plans: Array<{ id: string }>;
  edges: Array<{ from: string; to: string }>;
}

// knit plan graph ID, as Knitfab's: the plans up to -n generations up (-u) and down (-d) from one
// plan, both ways by default, 3 generations unless -n says otherwise or "all".
test('plan graph around one plan keeps the generations asked for, up, down or both', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const env = { KNIT_SERVER: api.url };
  const stage = async (from: string, to: string) =>
    (await api.client.applyPlan({ image: 'repo/stage:1.0', inputs: [{ path: '/in', tags: [`graph:${from}`] }], outputs: [{ path: '/out', tags: [`graph:${to}`] }] })).plan!.id;
  // a -> b -> c -> d -> e, and x on its own.
  const [a, b, c, d, e] = [await stage('0', '1'), await stage('1', '2'), await stage('2', '3'), await stage('3', '4'), await stage('4', '5')];
  const x = await stage('other', 'other-out');
  const around = async (...args: string[]) => {
    const r = await runKnit(['plan', 'graph', '--format', 'json', ...args], { env });
    t.is(r.code, 0, r.stderr);
    const g = parseJson<Graph>(r);
    return { plans: g.plans.map((p) => p.id).sort(), edges: g.edges.map((edge) => `${edge.from}>${edge.to}`).sort() };
  };

  t.deepEqual((await around('-n', '1', c)).plans, [b, c, d].sort());
  t.deepEqual((await around('-u', '-n', 'all', d)).plans, [a, b, c, d].sort());
  t.deepEqual(await around('-d', '-n', '1', b), { plans: [b, c].sort(), edges: [`${b}>${c}`] });
  t.deepEqual((await around(a)).plans, [a, b, c, d].sort(), 'three generations by default');
  t.deepEqual((await around(x)).plans, [x]);
  const all = await around();
  t.deepEqual(all.plans, [a, b, c, d, e, x].sort());
  t.is(all.edges.length, 4);
  // Drawn as dot for Graphviz too.
  const dot = await runKnit(['plan', 'graph', '-d', '-n', '1', b], { env });
  t.regex(dot.stdout, new RegExp(`"${b}" -> "${c}"`));
  t.notRegex(dot.stdout, new RegExp(`"${d}"`));

  const unknown = await runKnit(['plan', 'graph', '00000000-0000-4000-8000-000000000000'], { env });
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /plan 00000000-0000-4000-8000-000000000000 .*not found|not found.*00000000-0000-4000-8000-000000000000/i);
  const noId = await runKnit(['plan', 'graph', '-u'], { env });
  t.is(noId.code, 2);
  t.regex(noId.stderr, /need a plan id/);
  const badDepth = await runKnit(['plan', 'graph', '-n', 'many', a], { env });
  t.is(badDepth.code, 2);
  t.regex(badDepth.stderr, /--numbers "many": must be a whole number or "all"/);
  const res = await fetch(`${api.url}/api/plans/graph?up=2`);
  t.is(res.status, 400);
  t.regex(await res.text(), /plan.*is needed with up or down/);
});

// The lineage family's plan route: the same graph as /api/plans/graph?plan=, by id or prefix.
test('GET /api/lineage/plans/{id} is the plan graph around a plan, checked like the others', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const stage = async (from: string, to: string) =>
    (await api.client.applyPlan({ image: 'repo/alias:1.0', inputs: [{ path: '/in', tags: [`alias:${from}`] }], outputs: [{ path: '/out', tags: [`alias:${to}`] }] })).plan!.id;
  const [a, b, c] = [await stage('0', '1'), await stage('1', '2'), await stage('2', '3')];
  const get = async (path: string) => {
    const res = await fetch(`${api.url}${path}`);
    return { status: res.status, body: (await res.json()) as Graph & { error?: { field?: string; message: string } } };
  };
  const up = await get(`/api/lineage/plans/${c}?up=all`);
  t.is(up.status, 200);
  t.deepEqual(up.body.plans.map((p) => p.id).sort(), [a, b, c].sort());
  t.deepEqual(up.body.edges.map((e) => `${e.from}>${e.to}`).sort(), [`${a}>${b}`, `${b}>${c}`].sort());
  const down = await get(`/api/lineage/plans/${b.slice(0, 8)}?down=1`);
  t.is(down.status, 200, 'a unique id prefix is enough');
  t.deepEqual(down.body.plans.map((p) => p.id).sort(), [b, c].sort());
  t.deepEqual(down.body, (await get(`/api/plans/graph?plan=${b}&down=1`)).body, 'the same answer as the plans route');
  t.deepEqual((await get(`/api/lineage/plans/${a}`)).body.plans.map((p) => p.id), [a], 'no generations unless asked');

  t.is((await get('/api/lineage/plans/00000000-0000-4000-8000-000000000000')).status, 404);
  const bad = await get(`/api/lineage/plans/${a}?up=lots`);
  t.is(bad.status, 400);
  t.is(bad.body.error?.field, 'up');
  t.regex(bad.body.error?.message ?? '', /must be a number of generations or "all"/);
  const extra = await get(`/api/lineage/plans/${a}?plan=${b}`);
  t.is(extra.status, 400);
  t.regex(extra.body.error?.message ?? '', /plan/);
});
