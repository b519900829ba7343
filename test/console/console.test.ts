import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { DataDetail } from '../../core/data/model.js';
import type { Lineage } from '../../core/lineage/graph.js';
import { LIMITS } from '../../core/limits/limits.js';
import { launchChromium } from '../helpers/browser.js';
import { parseJson, repoRoot, runKnit } from '../helpers/cli.js';
import { TestStack, terminal } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// The screenshot CI keeps: test-output/ at the repository's root.
const OUTPUT = join(repoRoot, 'test-output');
const TOKEN = 'console-browser-token';

let s: TestStack;
let browser: Browser;
let work: { path: string; cleanup: () => Promise<void> };
test.before(async () => {
  s = await TestStack.start({ token: TOKEN });
  browser = await launchChromium();
  work = await tempDir('knit-console-e2e-');
});
test.after.always(async () => {
  await browser?.close();
  await s?.close();
  await work?.cleanup();
});

const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

test.serial('the console asks for the token, finds pushed Data, follows a live run and draws its lineage', async (t) => {
  // One line, then a pause long enough to watch the run live in the browser, then the output.
  const plan = await s.plan({
    script: 'echo console-start; sleep 8; cp /in/x/hello /out/y/result; echo console-end',
    inputs: [{ path: '/in/x', tags: ['console:raw'] }],
    outputs: [{ path: '/out/y', tags: ['console:out'] }],
    log: { tags: ['console:log'] },
  });

  // The real CLI pushes, with the token.
  const src = join(work.path, 'greeting');
  await mkdir(src);
  await writeFile(join(src, 'hello'), 'hello from the console test\n');
  const pushed = await runKnit(['data', 'push', '-t', 'console:raw', src], { env: { KNIT_SERVER: s.url, KNIT_TOKEN: TOKEN, KNIT_HOME: join(work.path, 'cli-home') } });
  t.is(pushed.code, 0, pushed.stderr);
  const upload = parseJson<DataDetail>(pushed);

  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const statuses: Array<{ url: string; status: number }> = [];
  page.on('response', (r) => statuses.push({ url: r.url(), status: r.status() }));

  // Without the token, the API refuses and the console asks for it.
  await page.goto(`${s.url}/data?tag=console:raw`);
  await byTestId(page, 'token-prompt').waitFor();
  t.true(statuses.some((r) => r.url.includes('/api/data?') && r.status === 401), JSON.stringify(statuses));
  await byTestId(page, 'token-input').fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();

  const row = byTestId(page, `data-${upload.id}`);
  await row.waitFor();
  t.is(await byTestId(page, 'token-prompt').count(), 0, 'the prompt is gone once the token works');
  t.regex(await row.innerText(), /console:raw/);
  t.regex(await row.innerText(), /upload/);
  t.regex(await row.innerText(), new RegExp(`${upload.size} B|KiB`));
  const [download] = await Promise.all([page.waitForEvent('download'), byTestId(page, `download-${upload.id}`).click()]);
  const saved = join(work.path, 'download.tar');
  await download.saveAs(saved);
  t.is((await stat(saved)).size, upload.size!);
  t.true(execFileSync('tar', ['-tf', saved], { encoding: 'utf8' }).split('\n').some((e) => e.endsWith('hello')), 'the download is the pushed archive');

  // The run, watched while it is live: its log streams in before it has finished.
  const [run] = await s.waitRuns('the run is running', (rs) => rs.length === 1 && rs[0]!.status === 'running', { plans: [plan.id] });
  const runRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes(`/api/runs/${run!.id}`)) runRequests.push(new URL(r.url()).pathname);
  });
  await page.goto(`${s.url}/runs/${run!.id}`);
  await byTestId(page, 'run-log').filter({ hasText: 'console-start' }).waitFor({ timeout: 20_000 });
  t.not(await byTestId(page, 'run-status').innerText(), 'done', 'the first line arrived while the run was live');
  t.is(await byTestId(page, 'log-state').innerText(), 'following…');
  // The status refreshes by itself, and the log follows to its end.
  await byTestId(page, 'run-status').filter({ hasText: /^done/ }).waitFor({ timeout: 60_000 });
  await byTestId(page, 'run-log').filter({ hasText: 'console-end' }).waitFor({ timeout: 20_000 });
  await byTestId(page, 'log-state').filter({ hasText: 'end of log' }).waitFor();
  t.deepEqual(runRequests, [`/api/runs/${run!.id}/events`], 'status and log were pushed over one event stream, not polled');
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, 'console-run.png'), fullPage: true });
  const [done] = await s.waitRuns('the run is done', (rs) => rs.length === 1 && rs.every(terminal), { plans: [plan.id] });
  t.is(done!.status, 'done', done!.message ?? '');
  const output = done!.outputs[0]!.dataId!;
  const log = done!.log.dataId!;

  // Its output's lineage: upload → Data → run → output and log, laid out and clickable.
  await byTestId(page, 'output-lineage-/out/y').click();
  await page.waitForURL(`${s.url}/lineage/data/${output}`);
  const expectedNodes = [`upload-${upload.id}`, upload.id, run!.id, output, log];
  const expectedEdges = [
    [`upload-${upload.id}`, upload.id],
    [upload.id, run!.id],
    [run!.id, output],
    [run!.id, log],
  ];
  for (const id of expectedNodes) await byTestId(page, `node-${id}`).waitFor();
  for (const [from, to] of expectedEdges) await byTestId(page, `edge-${from}-${to}`).waitFor({ state: 'attached' });
  t.is(await page.locator('[data-testid^="node-"]').count(), expectedNodes.length);
  t.is(await page.locator('[data-testid^="edge-"]').count(), expectedEdges.length);
  // The API's own answer, so the drawing matches what the server says, not just the test's idea.
  const lineage = (await (await fetch(`${s.url}/api/lineage/data/${output}?up=all&down=all`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Lineage;
  t.deepEqual(lineage.nodes.map((n) => n.id).sort(), [...expectedNodes].sort());
  // Left to right: each edge's source is drawn left of its target.
  for (const [from, to] of expectedEdges) {
    const a = (await byTestId(page, `node-${from}`).boundingBox())!;
    const b = (await byTestId(page, `node-${to}`).boundingBox())!;
    t.true(a.x + a.width <= b.x, `${from} is left of ${to}`);
  }
  const shot = join(OUTPUT, 'console-lineage.png');
  await page.screenshot({ path: shot });
  t.true((await stat(shot)).size > 10_000, 'the screenshot has content');
  t.log(`screenshot: ${shot}`);

  // Zoom works (the viewport's transform changes), and clicking nodes opens their details.
  const viewport = page.locator('.react-flow__viewport');
  const before = await viewport.getAttribute('style');
  await page.locator('.react-flow__controls-zoomin').click();
  await waitFor('the graph to zoom in', async () => (await viewport.getAttribute('style')) !== before, 5_000);
  await byTestId(page, `node-${run!.id}`).click();
  await page.waitForURL(`${s.url}/runs/${run!.id}`);
  await byTestId(page, 'run-detail').waitFor();
  await page.goBack();
  await byTestId(page, `node-${upload.id}`).click();
  await page.waitForURL(`${s.url}/data/${upload.id}`);
  await byTestId(page, 'data-detail').waitFor();

  // The plan: its file as YAML, active, with its run; and the runs list filtered by plan and status.
  await page.goto(`${s.url}/plans/${plan.id}`);
  await byTestId(page, 'plan-yaml').filter({ hasText: 'image: knit-test/busybox:1' }).waitFor();
  t.is(await byTestId(page, 'plan-active').innerText(), 'active');
  await byTestId(page, `run-${run!.id}`).waitFor();
  await page.goto(`${s.url}/runs`);
  await byTestId(page, 'runs-plan').fill(plan.id);
  await byTestId(page, 'runs-status').selectOption('done');
  await byTestId(page, `run-${run!.id}`).waitFor();
  await byTestId(page, 'runs-status').selectOption('failed');
  await byTestId(page, 'runs-table').waitFor();
  await byTestId(page, `run-${run!.id}`).waitFor({ state: 'detached' });

  // A list longer than a page shows one page, and the next on asking (the rel="next" Link).
  const many = LIMITS.pageDefault + 3;
  await s.db.pool.query(
    `WITH d AS (INSERT INTO data (id, created_at, size, digest, blob_key)
       SELECT gen_random_uuid(), clock_timestamp(), 1, 'sha256:' || repeat('0', 64), 'data/many' || g FROM generate_series(1, $1::int) g RETURNING id)
     INSERT INTO data_tag (data_id, key, value) SELECT id, 'console', 'many' FROM d`,
    [many],
  );
  await page.goto(`${s.url}/data?tag=console:many`);
  const rows = page.locator('[data-testid="data-table"] tbody tr');
  await byTestId(page, 'more').waitFor();
  t.is(await rows.count(), LIMITS.pageDefault);
  await byTestId(page, 'more').click();
  await byTestId(page, 'more').waitFor({ state: 'detached' });
  t.is(await rows.count(), many);

  t.deepEqual(pageErrors, [], 'no script errors on any page');
  await context.close();
});
