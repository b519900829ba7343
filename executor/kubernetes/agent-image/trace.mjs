// Prints every file node loads for a module (one absolute path a line), so the agent image holds
// what the agent imports and nothing else. Usage: node trace.mjs /abs/path/to/entry.js
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: node trace.mjs ENTRY.js\n');
  process.exit(2);
}
const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    if (result.url.startsWith('file:')) seen.add(fileURLToPath(result.url));
    return result;
  },
});
// The entry runs its command only when it is the main module, so importing it just loads it.
await import(pathToFileURL(entry).href);
// A package's own package.json says how its files load ("type", "exports"); nested ones, such as
// a folder marked as CommonJS, too. Walked up from every loaded file inside node_modules.
for (const file of [...seen]) {
  const parts = file.split(sep);
  const nm = parts.lastIndexOf('node_modules');
  if (nm < 0) continue;
  const root = nm + (parts[nm + 1]?.startsWith('@') ? 3 : 2);
  for (let end = parts.length - 1; end >= root; end--) {
    const candidate = join(parts.slice(0, end).join(sep) || sep, 'package.json');
    if (existsSync(candidate)) seen.add(candidate);
  }
}
process.stdout.write([...seen].sort().join('\n') + '\n');
