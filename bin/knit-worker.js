#!/usr/bin/env node
import { main } from '../dist/worker/main.js';

main().catch((err) => {
  process.stderr.write(`knit-worker: ${err?.message ?? err}\n`);
  process.exit(1);
});
