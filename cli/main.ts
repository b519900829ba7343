import yargs from 'yargs';
import { KnitError } from '../core/errors/knit-error.js';
import { VERSION } from '../core/version.js';
import { adminCommand } from './commands/admin/index.js';
import { dataCommand } from './commands/data/index.js';
import { planCommand } from './commands/plan/index.js';
import { runCommand } from './commands/run/index.js';
import { initCommand } from './commands/init.js';
import { licenseCommand } from './commands/license.js';
import { upCommand } from './commands/up.js';
import { versionCommand } from './commands/version.js';
import { findExtensions, runExtension } from './extensions.js';
import { knitenvPath } from './knitenv.js';
import { STDIO_ARG } from './stdio.js';
import { knitHome, resolveConnection, type GlobalArgs } from './context.js';
import { storePath } from './profile-store.js';
import { UsageError } from './usage-error.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

function buildCli(argv: string[]) {
  const cli = yargs(argv);
  return cli
    .scriptName('knit')
    .usage('$0 <command>\n\nknit runs every combination of tagged Data through your Plans, once, and records lineage.')
    .option('server', { type: 'string', describe: 'knit API URL (env KNIT_SERVER, else profile, else http://127.0.0.1:7420)', global: true })
    .option('token', { type: 'string', describe: 'API bearer token (env KNIT_TOKEN)', global: true })
    .option('profile', { type: 'string', describe: 'profile name (env KNIT_PROFILE; else ./.knitprofile): in the profile store, else in $KNIT_HOME/profile.json', global: true })
    .option('profile-store', { type: 'string', describe: 'the profile store knit init writes (env KNIT_PROFILE_STORE, else $KNIT_HOME/profile)', global: true })
    .command(dataCommand)
    .command(planCommand)
    .command(runCommand)
    .command(upCommand)
    .command(adminCommand)
    .command(initCommand)
    .command(versionCommand)
    .command(licenseCommand)
    .demandCommand(1, 'name a command: data, plan, run, up or admin')
    .strict()
    .recommendCommands()
    .completion('completion', 'print a shell completion script: knit completion >> ~/.bashrc')
    .example('$0 up', 'start knit locally')
    .example('$0 data push -t type:dataset ./train', 'register a directory as Data')
    .example('$0 plan apply train.yaml', 'run a container on every matching Data')
    .epilogue(extensionsEpilogue())
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // yargs reports its own validation failures as a message, and handler failures as err.
      if (err) throw err;
      // The instance holds the options of the command that failed by now.
      throw new UsageError(unknownFlagFirst(msg, argv, (cli as unknown as { getOptions(): KnownOptions }).getOptions()));
    });
}

/**
 * An unknown flag takes the word after it as its value, so `knit run show --bogus ID` would be
 * refused for a missing id, naming neither the flag nor the id: the unknown flag is named first.
 */
interface KnownOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
}

function unknownFlagFirst(msg: string, argv: string[], options: KnownOptions): string {
  if (!/^Not enough non-option arguments/.test(msg)) return msg;
  const known = new Set([...Object.keys(options.key), ...Object.values(options.alias).flat(), 'help', 'h', 'version']);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([^=]+)(=.*)?$/.exec(argv[i]!);
    if (!m || argv[i] === '-' || argv[i] === '--') continue;
    const name = m[1]!.replace(/^no-/, '');
    if (known.has(name) || known.has(name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()))) continue;
    const next = argv[i + 1];
    const flag = argv[i]!.split('=')[0];
    if (m[2] === undefined && next !== undefined && !next.startsWith('-')) return `unknown option ${flag}: it took ${JSON.stringify(next)} as its value, so an argument is missing (${msg})`;
    return `unknown option ${flag} (${msg})`;
  }
  return msg;
}

const BUILTIN = new Set(['data', 'plan', 'run', 'up', 'admin', 'init', 'version', 'license', 'completion', 'help']);
const VALUE_FLAGS = new Set(['--server', '--token', '--profile', '--profile-store']);

/** The global flags before the command word, and the word's index (-1: none). */
function commandWord(argv: string[]): { index: number; globals: { server?: string; token?: string; profile?: string; profileStore?: string } } {
  const globals: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const key = (flag: string) => (flag === '--profile-store' ? 'profileStore' : flag.slice(2));
    if (a.startsWith('--') && eq > 0 && VALUE_FLAGS.has(a.slice(0, eq))) globals[key(a.slice(0, eq))] = a.slice(eq + 1);
    else if (VALUE_FLAGS.has(a)) globals[key(a)] = argv[++i] ?? '';
    else if (a.startsWith('-')) return { index: -1, globals };
    else return { index: i, globals };
  }
  return { index: -1, globals };
}

function extensionsEpilogue(): string {
  const found = findExtensions();
  if (found.size === 0) return 'Extensions: any executable knit-NAME on PATH is knit NAME.';
  return ['Extensions on PATH (knit NAME runs knit-NAME):', ...[...found].map(([name, path]) => `  ${name}  (= ${path})`)].join('\n');
}

/** Runs the CLI and sets the exit code: 0 ok, 1 error, 2 usage; an extension's own code. */
export async function main(argv: string[]): Promise<void> {
  const { index, globals } = commandWord(argv);
  const word = index >= 0 ? argv[index]! : undefined;
  if (word !== undefined && !BUILTIN.has(word)) {
    const program = findExtensions().get(word);
    if (program) {
      try {
        // Knitfab's CLI loads no profile for an extension: one that cannot be read is no error here.
        let conn: { server?: string | undefined; token?: string | undefined; profile?: string | undefined };
        try {
          conn = resolveConnection(globals);
        } catch {
          conn = { server: globals.server ?? process.env['KNIT_SERVER'], token: globals.token ?? process.env['KNIT_TOKEN'], profile: globals.profile ?? process.env['KNIT_PROFILE'] };
        }
        process.exitCode = await runExtension(program, argv.slice(index + 1), {
          KNIT_PROFILE: conn.profile ?? '',
          KNIT_PROFILE_STORE: storePath(knitHome(), globals, process.env),
          KNIT_ENV: knitenvPath(),
          KNIT_SERVER: conn.server,
          KNIT_TOKEN: conn.token,
        });
      } catch (err) {
        process.exitCode = report(err, argv);
      }
      return;
    }
  }
  const cli = buildCli(argv.map((a) => (a === '-' ? STDIO_ARG : a)));
  try {
    await cli.parseAsync();
  } catch (err) {
    process.exitCode = report(err, argv);
  }
}

const COMMAND_WORDS = new Set(['data', 'plan', 'run', 'up', 'admin', 'push', 'find', 'show', 'tag', 'pull', 'lineage', 'template', 'apply', 'active', 'resource', 'annotate', 'serviceaccount', 'graph', 'log', 'stop', 'retry', 'rm', 'wait', 'migrate', 'completion', 'init', 'version', 'license']);

function report(err: unknown, argv: string[]): number {
  const e = err as Error;
  if (e instanceof UsageError) {
    const words = argv.filter((a) => !a.startsWith('-'));
    const cmd = words.slice(0, COMMAND_WORDS.has(words[0] ?? '') && COMMAND_WORDS.has(words[1] ?? '') ? 2 : COMMAND_WORDS.has(words[0] ?? '') ? 1 : 0).join(' ');
    process.stderr.write(`knit: ${e.message}\nRun 'knit ${cmd ? `${cmd} ` : ''}--help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (e instanceof KnitError) {
    const problems = (e.details?.['problems'] as Array<{ field: string; message: string }> | undefined) ?? [];
    if (problems.length > 1) {
      process.stderr.write(`knit: ${problems.length} problems:\n${problems.map((p) => `  ${p.field}: ${p.message}`).join('\n')}\n`);
    } else {
      process.stderr.write(`knit: ${e.message}\n`);
    }
    // With --json the error is data too: the API's error body, every problem in it.
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(e.toBody())}\n`);
    return EXIT_ERROR;
  }
  process.stderr.write(`knit: ${e?.message ?? String(err)}\n`);
  if (process.env['KNIT_DEBUG']) process.stderr.write(`${e?.stack ?? ''}\n`);
  return EXIT_ERROR;
}

export type { GlobalArgs };
