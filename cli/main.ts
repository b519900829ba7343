import yargs from 'yargs';
import { KnitError } from '../core/errors/knit-error.js';
import { VERSION } from '../core/version.js';
import { adminCommand } from './commands/admin/index.js';
import { dataCommand } from './commands/data/index.js';
import { planCommand } from './commands/plan/index.js';
import { runCommand } from './commands/run/index.js';
import { upCommand } from './commands/up.js';
import type { GlobalArgs } from './context.js';
import { UsageError } from './usage-error.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('knit')
    .usage('$0 <command>\n\nknit runs every combination of tagged Data through your Plans, once, and records lineage.')
    .option('server', { type: 'string', describe: 'knit API URL (env KNIT_SERVER, else profile, else http://127.0.0.1:7420)', global: true })
    .option('token', { type: 'string', describe: 'API bearer token (env KNIT_TOKEN)', global: true })
    .option('profile', { type: 'string', describe: 'profile name in $KNIT_HOME/profile.json (env KNIT_PROFILE)', global: true })
    .command(dataCommand)
    .command(planCommand)
    .command(runCommand)
    .command(upCommand)
    .command(adminCommand)
    .demandCommand(1, 'name a command: data, plan, run, up or admin')
    .strict()
    .recommendCommands()
    .completion('completion', 'print a shell completion script: knit completion >> ~/.bashrc')
    .example('$0 up', 'start knit locally')
    .example('$0 data push -t type:dataset ./train', 'register a directory as Data')
    .example('$0 plan apply train.yaml', 'run a container on every matching Data')
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // yargs reports its own validation failures as a message, and handler failures as err.
      if (err) throw err;
      throw new UsageError(msg);
    });
}

/** Runs the CLI and sets the exit code: 0 ok, 1 error, 2 usage. */
export async function main(argv: string[]): Promise<void> {
  const cli = buildCli(argv);
  try {
    await cli.parseAsync();
  } catch (err) {
    process.exitCode = report(err, argv);
  }
}

const COMMAND_WORDS = new Set(['data', 'plan', 'run', 'up', 'admin', 'push', 'find', 'show', 'tag', 'pull', 'lineage', 'template', 'apply', 'active', 'resource', 'annotate', 'serviceaccount', 'graph', 'log', 'stop', 'retry', 'rm', 'wait', 'migrate', 'completion']);

function report(err: unknown, argv: string[]): number {
  const e = err as Error;
  if (e instanceof UsageError) {
    const words = argv.filter((a) => !a.startsWith('-'));
    const cmd = words.slice(0, COMMAND_WORDS.has(words[0] ?? '') && COMMAND_WORDS.has(words[1] ?? '') ? 2 : COMMAND_WORDS.has(words[0] ?? '') ? 1 : 0).join(' ');
    process.stderr.write(`knit: ${e.message}\nRun 'knit ${cmd ? `${cmd} ` : ''}--help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (e instanceof KnitError) {
    process.stderr.write(`knit: ${e.message}\n`);
    return EXIT_ERROR;
  }
  process.stderr.write(`knit: ${e?.message ?? String(err)}\n`);
  if (process.env['KNIT_DEBUG']) process.stderr.write(`${e?.stack ?? ''}\n`);
  return EXIT_ERROR;
}

export type { GlobalArgs };
