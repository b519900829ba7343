import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { KnitError } from '../core/errors/knit-error.js';

/** What Vite names a built asset: name-hash.ext, no folders, no dot files. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Where `npm run build` puts the web console (Vite's outDir in console/vite.config.ts): dist/console. */
export const CONSOLE_DIR = fileURLToPath(new URL('../console/', import.meta.url));

/**
 * The console's own paths (console/src/routes.ts): each answers index.html, so a reload or a
 * shared link to /runs/<id> opens that view. Listed rather than a catch-all, so an unknown /api
 * path still answers the API's 404 (after the token check) instead of a page.
 */
export const CONSOLE_VIEWS = ['data', 'runs', 'plans', 'lineage'] as const;

/**
 * Serves the built console at `/`. Its files are open (they hold no data, and the page must load
 * to ask for the token); every /api call it makes carries the token. @fastify/static's send
 * resolves paths inside the folder only, so `..` in a URL cannot reach other files.
 */
export async function registerConsole(app: FastifyInstance, dir: string = CONSOLE_DIR): Promise<void> {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) {
    app.get('/', { config: { open: true } }, async (_req, reply) =>
      reply.code(404).type('text/plain; charset=utf-8').send(`the web console is not built (no ${index}): run npm run build\n`),
    );
    return;
  }
  await app.register(fastifyStatic, { root: dir, serve: false, index: false, dotfiles: 'deny', cacheControl: false });
  const page = { config: { open: true, takesQuery: true } };
  const sendIndex = (_req: unknown, reply: FastifyReply) =>
    // The page names the current hashed assets, so it must be fetched anew after an upgrade.
    reply.header('cache-control', 'no-cache').sendFile('index.html');
  app.get('/', page, sendIndex);
  for (const view of CONSOLE_VIEWS) {
    app.get(`/${view}`, page, sendIndex);
    app.get(`/${view}/*`, page, sendIndex);
  }
  // Vite names each asset by its content hash: a given URL never changes, so it may be kept.
  app.get('/assets/*', { config: { open: true } }, (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    // Asset names are flat (Vite's assetsDir); refusing anything else here answers a plain 404
    // to `..`, slashes and the like, before send would (with a 403 that reads as a server error).
    if (!ASSET_NAME.test(name)) throw new KnitError('not_found', `no such console asset: ${JSON.stringify(name.slice(0, 100))}`, { field: 'path' });
    return reply.header('cache-control', 'public, max-age=31536000, immutable').sendFile(`assets/${name}`);
  });
}
