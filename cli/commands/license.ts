import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';

interface LicenseArgs extends GlobalArgs {
  json?: boolean;
}

interface PackageLicense {
  name: string;
  version: string;
  license: string;
}

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A package's license as it declares it: the SPDX `license` field, the old object or `licenses`
 * list forms, else the first line of its LICENSE file.
 */
function licenseOf(dir: string, pkg: { license?: unknown; licenses?: unknown }): string {
  if (typeof pkg.license === 'string') return pkg.license;
  const typeOf = (l: unknown) => (l && typeof l === 'object' && typeof (l as { type?: unknown }).type === 'string' ? (l as { type: string }).type : undefined);
  if (typeOf(pkg.license)) return typeOf(pkg.license)!;
  if (Array.isArray(pkg.licenses) && pkg.licenses.length > 0) return pkg.licenses.map((l) => typeOf(l) ?? String(l)).join(' OR ');
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const first = file ? readFileSync(join(dir, file), 'utf8').split('\n').find((l) => l.trim() !== '') : undefined;
  return first ? `${first.trim().slice(0, 80)} (its ${file})` : 'UNKNOWN';
}

function readPackage(dir: string): { name?: string; version?: string; license?: unknown; licenses?: unknown; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Node's lookup of `name` from `from`: node_modules/<name> in `from` and each folder above. */
function resolvePackageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** knit's own license and those of the packages it runs with (its production dependencies, transitively). */
export function licenses(root: string = PACKAGE_ROOT): { knit: PackageLicense; dependencies: PackageLicense[] } {
  const own = readPackage(root) ?? {};
  const seen = new Map<string, PackageLicense>();
  const queue: Array<{ name: string; from: string }> = Object.keys({ ...own.dependencies }).map((name) => ({ name, from: root }));
  while (queue.length > 0) {
    const { name, from } = queue.shift()!;
    const dir = resolvePackageDir(name, from);
    if (!dir) continue;
    const pkg = readPackage(dir);
    if (!pkg) continue;
    const key = `${pkg.name ?? name}@${pkg.version ?? '?'}`;
    if (seen.has(key)) continue;
    seen.set(key, { name: pkg.name ?? name, version: pkg.version ?? '?', license: licenseOf(dir, pkg) });
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push({ name: dep, from: dir });
  }
  const dependencies = [...seen.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  return { knit: { name: own.name ?? 'knit', version: own.version ?? '?', license: typeof own.license === 'string' ? own.license : 'UNKNOWN' }, dependencies };
}

export const licenseCommand: CommandModule<GlobalArgs, LicenseArgs> = {
  command: 'license',
  describe: 'Show the licenses of knit and of the packages it runs with',
  builder: (y) => (y as Argv<GlobalArgs>).option('json', { type: 'boolean', describe: 'print JSON' }) as unknown as Argv<LicenseArgs>,
  handler: (args) => {
    const all = licenses();
    if (args.json) {
      process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
      return;
    }
    const lines = [`${all.knit.name} ${all.knit.version}: ${all.knit.license}`, '', `It runs with ${all.dependencies.length} packages:`];
    for (const d of all.dependencies) lines.push(`  ${d.name}@${d.version}  ${d.license}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
