import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { parseJson, repoRoot, runKnit } from '../helpers/cli.js';
import { TestStack, terminal } from '../helpers/stack.js';

let s: TestStack;
test.before(async () => {
  s = await TestStack.start();
});
test.after.always(() => s?.close());

function bash(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

// The README's picture, made the way it says: the demo pipeline (examples/iris) run for real in
// Docker, then scripts/lineage-picture.sh (knit data lineage --format dot | dot -Tsvg). The SVG
// goes to test-output/, or to docs/lineage.svg with KNIT_WRITE_DOCS=1 (to refresh the README's).
test.serial('scripts/lineage-picture.sh draws the demo pipeline\'s lineage from a real stack', async (t) => {
  const env = { KNIT_SERVER: s.url };
  for (const file of ['examples/iris/train.yaml', 'examples/iris/evaluate.yaml']) {
    const applied = await runKnit(['plan', 'apply', file], { env });
    t.is(applied.code, 0, applied.stderr);
  }
  const pushed = await runKnit(['data', 'push', '-t', 'project:iris', '-t', 'type:dataset', 'examples/iris/data'], { env });
  t.is(pushed.code, 0, pushed.stderr);
  const dataset = parseJson<{ id: string }>(pushed).id;
  const runs = await s.waitRuns('train and evaluate done', (rs) => rs.length === 2 && rs.every(terminal));
  t.true(runs.every((r) => r.status === 'done'), JSON.stringify(runs.map((r) => [r.status, r.message])));

  const out = process.env['KNIT_WRITE_DOCS'] === '1' ? join(repoRoot, 'docs', 'lineage.svg') : join(repoRoot, 'test-output', 'lineage-demo.svg');
  if (out.includes('test-output')) await rm(out, { force: true });
  const drawn = await bash(['scripts/lineage-picture.sh', '', out], env);
  t.is(drawn.code, 0, drawn.stderr);
  const svg = await readFile(out, 'utf8');
  t.regex(svg, /^<\?xml[\s\S]*<svg /);
  const text = svg.replace(/&#45;/g, '-');
  t.true(text.includes(`>data ${dataset.slice(0, 8)}<`), 'the uploaded dataset is drawn');
  for (const label of ['upload', 'type:dataset', 'type:model', 'type:metrics', 'knit-test/busybox:1', 'done (exit 0)', '/in/dataset', '/in/model', '/out/metrics']) {
    t.true(text.includes(`>${label}<`), `the SVG shows ${label}`);
  }
  t.log(`picture: ${out}`);

  // The same lineage as the README's tree: the metrics, back through evaluate and train to the upload.
  const metrics = runs.flatMap((r) => r.outputs).find((o) => o.path === '/out/metrics')!.dataId!;
  const tree = await runKnit(['data', 'lineage', '-u', '--format', 'tree', metrics], { env });
  t.is(tree.code, 0, tree.stderr);
  t.log(`\n${tree.stdout}`);
  const lines = tree.stdout.split('\n');
  t.regex(lines[0]!, new RegExp(`^data ${metrics.slice(0, 8)}  project:iris  type:metrics  `));
  t.regex(tree.stdout, /└─ \/out\/metrics ← run [0-9a-f]{8}  plan [0-9a-f]{8}  knit-test\/busybox:1  done  exit 0\n/);
  t.is(lines.filter((l) => l.includes(`data ${dataset.slice(0, 8)}  project:iris  type:dataset`)).length, 1, 'the dataset in full once');
  t.true(lines.some((l) => l.endsWith(`/in/dataset ← data ${dataset.slice(0, 8)} (see above)`)), 'and once as a reference');
  t.regex(tree.stdout, /└─ upload\n/);
  t.true(lines.includes('led to: nothing traced'));
});
