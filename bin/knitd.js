#!/usr/bin/env node
import { main } from '../dist/api/main.js';

main().catch((err) => {
  process.stderr.write(`knitd: ${err?.message ?? err}\n`);
  process.exit(1);
});
