import type { Argv } from 'yargs';
import { parseDepth } from './usage-error.js';

export interface TraceArgs {
  upstream?: boolean | undefined;
  downstream?: boolean | undefined;
  numbers: string;
}

/** -u, -d and -n, as the commands that trace a graph from one node (data lineage, plan graph) take them; `describe` says each in the command's words. */
export function traceOptions<T>(y: Argv<T>, describe: { upstream: string; downstream: string; numbers: string }): Argv<T> {
  return y
    .option('upstream', { alias: 'u', type: 'boolean', describe: `${describe.upstream} (default: both ways)` })
    .option('downstream', { alias: 'd', type: 'boolean', describe: `${describe.downstream} (default: both ways)` })
    .option('numbers', { alias: 'n', type: 'string', default: '3', describe: `${describe.numbers}: generations to trace, or "all"` });
}

/** The generations to trace each way: -n both ways unless -u or -d names one (or both). */
export function traceDepths(args: TraceArgs): { up: number | 'all'; down: number | 'all' } {
  const n = parseDepth(args.numbers);
  const both = !args.upstream && !args.downstream;
  return { up: both || args.upstream ? n : 0, down: both || args.downstream ? n : 0 };
}
