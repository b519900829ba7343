import test from 'ava';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startTestApi } from '../helpers/api.js';
import { parseJson, runKnit } from '../helpers/cli.js';
import { runKnitfabCli } from '../helpers/knitfab-cli.js';
import { tempDir } from '../helpers/tmp.js';

const TOKEN = 'init-token';

// knit init, as Knitfab's: the handed-out profile file goes into the profile store under this
// folder's name, ./.knitprofile names it, and both CLIs use the same store.
test('knit init stores a Knitfab profile that knit and Knitfab\'s CLI both use', async (t) => {
  const api = await startTestApi({ token: TOKEN });
  t.teardown(() => api.close());
  const dir = await tempDir('knit-init-');
  t.teardown(dir.cleanup);
  const project = join(dir.path, 'project');
  await mkdir(join(project, 'sub'), { recursive: true });
  const apiRoot = new URL('/knitfab/api', api.url);
  apiRoot.username = 'kf';
  apiRoot.password = TOKEN;
  await writeFile(join(dir.path, 'handout.yaml'), `apiRoot: ${apiRoot.toString()}\n`);
  const home = join(dir.path, 'home');
  const env = { KNIT_HOME: home };

  const init = await runKnit(['init', join(dir.path, 'handout.yaml')], { env, cwd: project });
  t.is(init.code, 0, init.stderr);
  const store = join(home, 'profile');
  t.is((await stat(store)).mode & 0o777, 0o600);
  t.deepEqual(Object.keys(parseYaml(await readFile(store, 'utf8')) as object), [project]);
  t.is(await readFile(join(project, '.knitprofile'), 'utf8'), project);

  // From a subfolder, knit finds the profile through ../.knitprofile: server and token from it.
  const find = await runKnit(['data', 'find'], { env, cwd: join(project, 'sub') });
  t.is(find.code, 0, find.stderr);
  t.deepEqual(parseJson(find), []);
  // Knitfab's CLI reads the very same store.
  const kf = await runKnitfabCli(['--profile-store', store, 'data', 'find', '-t', 'a:b'], { cwd: project });
  t.is(kf.code, 0, kf.stderr);
  t.deepEqual(parseJson(kf), []);

  // A second init keeps the previous store as .backup.
  t.is((await runKnit(['init', '--profile', 'other', join(dir.path, 'handout.yaml')], { env, cwd: project })).code, 0);
  t.deepEqual(Object.keys(parseYaml(await readFile(store, 'utf8')) as object).sort(), [project, 'other'].sort());
  t.deepEqual(Object.keys(parseYaml(await readFile(`${store}.backup`, 'utf8')) as object), [project]);

  await writeFile(join(dir.path, 'bad.yaml'), 'apiRoot: not-a-url\n');
  const bad = await runKnit(['init', join(dir.path, 'bad.yaml')], { env, cwd: project });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /file\.apiRoot: must be an absolute http\(s\) URL/);
  const missing = await runKnit(['init', join(dir.path, 'nope.yaml')], { env, cwd: project });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /file .*nope\.yaml: cannot be read \(ENOENT\)/);
});
