#!/usr/bin/env node
import { main } from '../dist/agent/main.js';

await main(process.argv);
