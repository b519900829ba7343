import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { parse, YAMLParseError } from 'yaml';
import { PlanSpec } from '../../../core/plan/spec.js';
import { parseOrThrow } from '../../../core/validation/parse.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { info, printJson, wantsJson } from '../../output.js';
import { isStdio } from '../../stdio.js';
import { UsageError } from '../../usage-error.js';
import { printPlan, printPreview } from './render.js';

interface Args extends GlobalArgs {
  file: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** Reads a plan file, with YAML syntax errors pointing at the line. */
export async function readPlanFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = isStdio(file) ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const at = err.linePos?.[0];
      throw new UsageError(`${file}${at ? `:${at.line}:${at.col}` : ''}: ${err.message.split('\n')[0]}`);
    }
    // The yaml library also refuses, with a plain ReferenceError, aliases it cannot resolve and
    // alias expansion beyond its limit (a "billion laughs" file): still a bad file, not a crash.
    throw new UsageError(`${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const applyCommand: CommandModule<GlobalArgs, Args> = {
  command: 'apply <file>',
  describe: 'Apply a plan file (YAML); its runs start for every matching combination of Data',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('file', { type: 'string', demandOption: true, describe: 'plan file, or - for stdin' })
      .option('dry-run', { type: 'boolean', describe: 'only show how many runs it would start, and from which Data' })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'apply even if it starts more runs at once than the server cap' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan apply train.yaml --dry-run', 'see what it would start')
      .example('$0 plan apply train.yaml', 'apply it') as unknown as Argv<Args>,
  handler: async (args) => {
    // Checked here first, so every problem of the file is listed before anything is sent; the
    // file's own values go, for the server to read as it reads any client's.
    const spec = await readPlanFile(args.file);
    parseOrThrow(PlanSpec, spec, '');
    const result = await clientFor(args).applyPlan(spec, { dryRun: args.dryRun === true, yes: args.yes === true });
    if (result.dryRun) return printPreview(args, result.preview);
    info(`applied plan ${result.plan!.id}; it starts ${result.preview.runs} run${result.preview.runs === 1 ? '' : 's'} now`);
    if (wantsJson(args)) printJson(result.plan);
    else printPlan(args, result.plan!);
  },
};
