import type { Argv } from 'yargs';
import { ColorMode, GraphFormat } from '../core/render/format.js';

export interface GraphFormatArgs {
  format?: string | undefined;
  color?: string | undefined;
}

/**
 * `--format` for the commands that print a graph (data lineage, plan graph), and `--color` for
 * those whose tree has run statuses to colour.
 */
export function graphFormatOptions<T>(y: Argv<T>, opts: { color: boolean }): Argv<T> {
  const withFormat = y.option('format', { type: 'string', choices: GraphFormat.options, describe: 'output format (default: tree on a terminal, dot when piped)' });
  if (!opts.color) return withFormat;
  return withFormat.option('color', {
    type: 'string',
    choices: ColorMode.options,
    default: 'auto',
    describe: 'colour run statuses in the tree: auto (on a terminal, unless NO_COLOR is set), always or never',
  });
}

/**
 * The format asked for, else `tree` for a person at a terminal and `dot` for a pipe, so
 * `knit data lineage ID | dot -Tsvg` keeps working.
 */
export function graphFormat(args: GraphFormatArgs, stdout: { isTTY?: boolean } = process.stdout): GraphFormat {
  if (args.format !== undefined) return GraphFormat.parse(args.format);
  return stdout.isTTY ? 'tree' : 'dot';
}

/** Whether to colour: always, never, or (auto) on a terminal when NO_COLOR (no-color.org) is unset or empty. */
export function wantsColor(args: GraphFormatArgs, stdout: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  const mode = ColorMode.parse(args.color ?? 'auto');
  if (mode !== 'auto') return mode === 'always';
  return stdout.isTTY === true && !env['NO_COLOR'];
}
