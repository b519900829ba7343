import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { PlanPreview } from '../../core/plan/model.js';
import type { GeneratedPlan } from '../../cli/commands/plan/template.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { knitBin, parseJson, repoRoot, runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const exec = promisify(execFile);

// A test-only image, built from the busybox rootfs of the test image with the settings a
// template reads, then saved as `docker save` writes it.
const PROBE_IMAGE = 'knit-test/template-probe:1';
const PROBE_ALIAS = 'knit-test/template-probe:alias';

let api: TestApi;
let work: { path: string; cleanup: () => Promise<void> };
let archive: string;
let twoTags: string;

async function dockerSave(refs: string[], file: string): Promise<void> {
  const child = spawn('docker', ['save', ...refs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker save exited ${code}`)))));
  await pipeline(child.stdout, createWriteStream(file));
  await done;
}

test.before(async () => {
  api = await startTestApi();
  work = await tempDir('knit-template-');
  const root = join(work.path, 'root');
  await exec('bash', ['-c', `source scripts/lib/test-image.sh && make_test_image_rootfs "$1" && tar -C "$1" -c . | docker import --change 'ENTRYPOINT ["/bin/sh","-c"]' --change 'CMD ["cat /in/data/x in/extra > /out/model/m"]' --change 'VOLUME /out/model' --change 'WORKDIR /work' - "$2"`, 'build', root, PROBE_IMAGE], { cwd: repoRoot });
  await exec('docker', ['tag', PROBE_IMAGE, PROBE_ALIAS]);
  archive = join(work.path, 'one.tar');
  await dockerSave([PROBE_IMAGE], archive);
  twoTags = join(work.path, 'two.tar');
  await dockerSave([PROBE_IMAGE, PROBE_ALIAS], twoTags);
});
test.after.always(async () => {
  await exec('docker', ['rmi', PROBE_IMAGE, PROBE_ALIAS]).catch(() => {});
  await api?.close();
  await work?.cleanup();
});

const knit = (args: string[], input?: string) => runKnit(args, { env: { KNIT_SERVER: api.url, KNIT_HOME: join(work.path, 'home') }, cwd: work.path, ...(input !== undefined ? { input } : {}) });

async function dryRun(t: { is: (a: unknown, b: unknown, m?: string) => void }, yamlText: string, name: string): Promise<PlanPreview> {
  const file = join(work.path, `${name}.yaml`);
  await writeFile(file, yamlText);
  const dry = await knit(['plan', 'apply', '--dry-run', file]);
  t.is(dry.code, 0, dry.stderr);
  return parseJson<PlanPreview>(dry);
}

test.serial('plan template -i reads a docker save archive into a plan that plan apply accepts', async (t) => {
  const r = await knit(['plan', 'template', '-i', archive]);
  t.is(r.code, 0, r.stderr);
  const plan = parseYaml(r.stdout) as GeneratedPlan;
  t.is(plan.image, PROBE_IMAGE);
  t.deepEqual(plan.entrypoint, ['/bin/sh', '-c']);
  t.deepEqual(plan.args, ['cat /in/data/x in/extra > /out/model/m']);
  // The relative in/extra is joined to WORKDIR; /out/model/m lies inside the VOLUME /out/model.
  t.deepEqual(plan.inputs, [
    { path: '/in/data/x', tags: ['type:x'] },
    { path: '/work/in/extra', tags: ['type:extra'] },
  ]);
  t.deepEqual(plan.outputs, [{ path: '/out/model', tags: ['type:model'] }]);
  t.deepEqual(plan.log, { tags: ['type:log'] });
  t.deepEqual(plan.resources, { cpu: '1', memory: '1Gi' });
  const preview = await dryRun(t, r.stdout, 'from-image');
  t.is(preview.runs, 0);

  // From stdin (-), the same plan.
  const fromStdin = await exec('bash', ['-c', 'exec "$0" "$1" plan template -i - < "$2"', process.execPath, knitBin, archive], { cwd: work.path });
  t.deepEqual(parseYaml(fromStdin.stdout), plan);
});

test.serial('plan template -i with several tags: the argument chooses, else an error lists them', async (t) => {
  const none = await knit(['plan', 'template', '-i', twoTags]);
  t.is(none.code, 2);
  t.regex(none.stderr, /several image tags \(.*template-probe:1.*template-probe:alias.*\)/);
  const chosen = await knit(['plan', 'template', '-i', twoTags, PROBE_ALIAS]);
  t.is(chosen.code, 0, chosen.stderr);
  t.is((parseYaml(chosen.stdout) as GeneratedPlan).image, PROBE_ALIAS);
  const missing = await knit(['plan', 'template', '-i', archive, 'other/image:2']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /other\/image:2: .* holds no image tagged so; it has knit-test\/template-probe:1/);
});

test.serial('plan template -i refuses what is not a docker save archive, naming the file', async (t) => {
  const text = join(work.path, 'not.tar');
  await writeFile(text, 'hello, not a tar\n');
  const bad = await knit(['plan', 'template', '-i', text]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /not\.tar: not a docker save archive/);
  // A real tar without manifest.json.
  const plain = join(work.path, 'plain.tar');
  await exec('tar', ['-C', join(work.path, 'root'), '-cf', plain, 'etc']);
  const noManifest = await knit(['plan', 'template', '-i', plain]);
  t.is(noManifest.code, 1);
  t.regex(noManifest.stderr, /plain\.tar: has no manifest\.json/);
  const missing = await knit(['plan', 'template', '-i', join(work.path, 'absent.tar')]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /-i .*absent\.tar: cannot read it: ENOENT/);
});

test.serial('plan template --scratch: /in, /out, a type:log log, knitenv tags and resources', async (t) => {
  const plain = await knit(['plan', 'template', '--scratch']);
  t.is(plain.code, 0, plain.stderr);
  const p = parseYaml(plain.stdout) as GeneratedPlan;
  // Input and output differ by their type, or the plan would feed itself (apply refuses cycles).
  t.deepEqual(p.inputs, [{ path: '/in', tags: ['type:dataset'] }]);
  t.deepEqual(p.outputs, [{ path: '/out', tags: ['type:model'] }]);
  t.deepEqual(p.log, { tags: ['type:log'] });
  t.deepEqual(p.resources, { cpu: '1', memory: '1Gi' });
  // The image it names is a placeholder; with a real one the plan applies.
  await dryRun(t, plain.stdout.replace('"image:version"', '"knit-test/busybox:1"'), 'scratch');

  const envFile = join(work.path, 'knitenv');
  await writeFile(envFile, 'tag:\n  - project:p\nresource:\n  memory: 2Gi\n');
  const withEnv = await runKnit(['plan', 'template', '--scratch'], { env: { KNIT_ENV: envFile }, cwd: work.path });
  t.is(withEnv.code, 0, withEnv.stderr);
  const e = parseYaml(withEnv.stdout) as GeneratedPlan;
  t.deepEqual(e.inputs, [{ path: '/in', tags: ['project:p', 'type:dataset'] }]);
  t.deepEqual(e.log, { tags: ['type:log', 'project:p'] });
  t.deepEqual(e.resources, { cpu: '1', memory: '2Gi' });
  // -i with the same knitenv adds its tags before the type tag.
  const fromImage = await runKnit(['plan', 'template', '-i', archive], { env: { KNIT_ENV: envFile }, cwd: work.path });
  t.deepEqual((parseYaml(fromImage.stdout) as GeneratedPlan).outputs, [{ path: '/out/model', tags: ['project:p', 'type:model'] }]);

  const both = await knit(['plan', 'template', '--scratch', 'my/img:1']);
  t.is(both.code, 2);
  t.regex(both.stderr, /--scratch .* no IMAGE:TAG/);
  // Today's template for a named image is unchanged.
  const named = await knit(['plan', 'template', 'my/img:1']);
  t.regex(named.stdout, /^image: "my\/img:1"$/m);
  t.regex(named.stdout, /^# on_node/m);
});
