import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DataDetail } from '../../client/index.js';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// knitenv, as Knitfab defines it: found in the folder or the nearest parent, its tags added on
// every push and used by plan template with its resources.
test('knitenv tags go on every push and into plan template, with its resources', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const dir = await tempDir('knit-knitenv-');
  t.teardown(dir.cleanup);
  await writeFile(join(dir.path, 'knitenv'), 'tag:\n  - project:env\n  - {key: team, value: vision}\nresource:\n  cpu: 500m\n  memory: 2Gi\n');
  const sub = join(dir.path, 'deep', 'er');
  await mkdir(join(sub, 'data'), { recursive: true });
  await writeFile(join(sub, 'data', 'f'), 'x');
  const env = { KNIT_SERVER: api.url, KNIT_HOME: join(dir.path, 'home') };

  const pushed = await runKnit(['data', 'push', '-t', 'kind:raw', 'data'], { env, cwd: sub });
  t.is(pushed.code, 0, pushed.stderr);
  const tags = parseJson<DataDetail>(pushed).tags;
  for (const tag of ['project:env', 'team:vision', 'kind:raw']) t.true(tags.includes(tag), tags.join(' '));

  const template = await runKnit(['plan', 'template', 'my/img:1'], { env, cwd: sub });
  t.is(template.code, 0, template.stderr);
  const plan = parseYaml(template.stdout) as { inputs: Array<{ tags: string[] }>; outputs: Array<{ tags: string[] }>; resources: Record<string, string> };
  t.deepEqual(plan.inputs[0]!.tags, ['project:env', 'team:vision']);
  t.deepEqual(plan.outputs[0]!.tags, ['project:env', 'team:vision']);
  t.deepEqual(plan.resources, { cpu: '500m', memory: '2Gi' });

  // KNIT_ENV names another file; a broken one is an error that names it and the field.
  await writeFile(join(dir.path, 'broken-env'), 'tag:\n  - "no colon"\n');
  const broken = await runKnit(['data', 'push', 'data'], { env: { ...env, KNIT_ENV: join(dir.path, 'broken-env') }, cwd: sub });
  t.is(broken.code, 1);
  t.regex(broken.stderr, /knitenv .*broken-env: .*tag\[0\]/);
});
