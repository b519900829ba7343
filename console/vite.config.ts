import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built into the package (dist/console), where the API serves it (api/console.ts).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // The graph library is most of the bundle; one chunk of a few hundred kB is fine for a console.
    chunkSizeWarningLimit: 1000,
  },
  // `npx vite --config console/vite.config.ts`: the console with reloading, its API calls sent on
  // to a running knitd (KNIT_SERVER, as for the CLI).
  server: { proxy: { '/api': process.env['KNIT_SERVER'] ?? 'http://127.0.0.1:7420' } },
  logLevel: 'warn',
});
