import { once } from 'node:events';
import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../../../core/config/units.js';
import { KnitError } from '../../../core/errors/knit-error.js';
import { RunStatus } from '../../../core/run/status.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { info } from '../../output.js';
import { limitOption, many, parseFlagValues, parseLimit, UsageError } from '../../usage-error.js';
import { printRun, printRuns } from './render.js';

interface IdArgs extends GlobalArgs {
  id: string;
  json?: boolean;
}

const idCommand = (command: string, describe: string, example: [string, string], action: (args: IdArgs) => Promise<void>, extra?: (y: Argv<IdArgs>) => Argv<IdArgs>): CommandModule<GlobalArgs, IdArgs> => ({
  command: `${command} <id>`,
  describe,
  builder: (y) => {
    const base = (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'run id' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example(...example) as unknown as Argv<IdArgs>;
    return extra ? extra(base) : base;
  },
  handler: action,
});

interface FindArgs extends GlobalArgs {
  plan?: string[];
  in?: string[];
  out?: string[];
  status?: string[];
  since?: string;
  duration?: string;
  limit?: string;
  json?: boolean;
}

const findCommand: CommandModule<GlobalArgs, FindArgs> = {
  command: 'find',
  describe: 'Find runs by plan, input or output Data, status and time',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option('plan', { alias: 'p', type: 'string', requiresArg: true, describe: 'plan id (repeatable)' })
      .option('in', { alias: 'i', type: 'string', requiresArg: true, describe: 'an input Data id (repeatable, all must be inputs)' })
      .option('out', { alias: 'o', type: 'string', requiresArg: true, describe: 'an output Data id (repeatable)' })
      .option('status', { alias: 's', type: 'string', requiresArg: true, describe: `status (repeatable): ${RunStatus.options.join(', ')}` })
      .option('since', { type: 'string', describe: 'updated at or after this RFC3339 time' })
      .option('duration', { type: 'string', describe: 'with --since: updated within this long after it' })
      .option('limit', limitOption)
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 run find -s failed', 'every failed run')
      .example('$0 run find -p 5e1b… -s running', 'what a plan is running now') as unknown as Argv<FindArgs>,
  handler: async (args) => {
    const statuses = parseFlagValues('--status', many(args.status), RunStatus);
    const max = parseLimit(args.limit);
    printRuns(
      args,
      await clientFor(args).findRuns({
        plans: many(args.plan),
        inputs: many(args.in),
        outputs: many(args.out),
        statuses,
        ...(args.since !== undefined ? { since: args.since } : {}),
        ...(args.duration !== undefined ? { duration: args.duration } : {}),
        ...(max !== undefined ? { max } : {}),
      }),
    );
  },
};

interface LogArgs extends IdArgs {
  follow?: boolean;
}

const logCommand: CommandModule<GlobalArgs, LogArgs> = {
  command: 'log <id>',
  describe: 'Print a run\'s log (stdout and stderr, timestamped); -f follows it live',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'run id' })
      .option('follow', { alias: 'f', type: 'boolean', describe: 'keep printing until the run ends' })
      .example('$0 run log -f 0c4d…', 'watch a run as it goes') as unknown as Argv<LogArgs>,
  handler: printLog,
};

/** Why a run has no log yet and will not get one by waiting alone; undefined for a run under way. */
export function notStartedWhy(run: { id: string; status: string; plan: { id: string } }): string | undefined {
  if (run.status === 'deactivated') return `run ${run.id} is deactivated: its plan ${run.plan.id} is inactive, so it does not start until knit plan active yes ${run.plan.id}`;
  if (run.status === 'waiting') return `run ${run.id} is waiting for a free slot on a worker (or for a worker to start); it has no log yet`;
  return undefined;
}

async function printLog(args: LogArgs): Promise<void> {
  const client = clientFor(args);
  // Before the run has started there is no log: say why instead of printing nothing.
  let told = notStartedWhy(await client.getRun(args.id));
  if (told) info(told);
  if (!args.follow) {
    for await (const chunk of await client.runLog(args.id)) process.stdout.write(chunk as Buffer);
    return;
  }
  // Followed over the run's pushed events: the log as it comes, and a word when the run's state
  // says why no more is coming yet.
  for await (const e of client.runEvents(args.id, { log: true })) {
    if (e.event === 'log') {
      if (!process.stdout.write(e.data.text)) await once(process.stdout, 'drain');
    } else if (e.event === 'run') {
      const why = notStartedWhy(e.data);
      if (why && why !== told) info(why);
      told = why;
    } else if (e.event === 'end') {
      return;
    } else {
      throw new KnitError('unavailable', `following the log of run ${args.id} broke off: ${e.data.message}`);
    }
  }
  throw new KnitError('unavailable', `the log of run ${args.id} stopped before the run ended (the API went away?); follow it again with knit run log -f ${args.id}`);
}

interface StopArgs extends IdArgs {
  fail?: boolean;
}

interface WaitArgs extends IdArgs {
  timeout?: string;
}

export const runCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'run',
  describe: 'Inspect and control Runs',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(findCommand)
      .command(
        idCommand(
          'show',
          'Show a run: status, inputs, outputs, log; --log prints its log instead (-f follows it), as in Knitfab',
          ['$0 run show 0c4d…', 'show one run'],
          async (a) => {
            const args = a as LogArgs & { log?: boolean };
            if (args.log) return printLog(args);
            if (args.follow) throw new UsageError('--follow goes with --log: knit run show --log -f ID');
            printRun(a, await clientFor(a).getRun(a.id));
          },
          (y) => y.option('log', { type: 'boolean', describe: 'print the run\'s log' }).option('follow', { alias: 'f', type: 'boolean', describe: 'with --log: keep printing until the run ends' }) as unknown as Argv<IdArgs>,
        ),
      )
      .command(logCommand)
      .command(
        idCommand(
          'stop',
          'Stop a run: it ends done with the outputs written so far; --fail ends it failed',
          ['$0 run stop 0c4d…', 'keep the model trained so far'],
          async (a) => {
            const { notice, ...run } = await clientFor(a).stopRun(a.id, { fail: (a as StopArgs).fail === true });
            printRun(a, run);
            // Recorded, not yet delivered (Temporal is down): not an error, but not done yet either.
            if (notice) info(notice);
          },
          (y) => y.option('fail', { alias: 'x', type: 'boolean', describe: 'abort: the run ends failed' }) as unknown as Argv<IdArgs>,
        ),
      )
      .command(idCommand('retry', 'Start a new attempt of a done or failed run, with fresh outputs', ['$0 run retry 0c4d…', 'run it again'], async (a) => printRun(a, await clientFor(a).retryRun(a.id))))
      .command(idCommand('rm', 'Remove a run whose outputs nothing uses: it is invalidated, its outputs deleted', ['$0 run rm 0c4d…', 'remove a run'], async (a) => printRun(a, await clientFor(a).removeRun(a.id))))
      .command(
        idCommand(
          'wait',
          'Wait until a run ends; exits non-zero unless it is done',
          ['$0 run wait 0c4d… && echo trained', 'chain on success'],
          async (a) => {
            const timeout = (a as WaitArgs).timeout;
            const ms = timeout === undefined ? undefined : parseDuration(timeout);
            if (timeout !== undefined && ms === undefined) throw new UsageError(`--timeout ${JSON.stringify(timeout)}: must be a duration such as 90s or 10m`);
            // A run that cannot start by itself is said so at once (and again if it changes), not waited on silently.
            let told: string | undefined;
            const run = await clientFor(a).waitRun(a.id, {
              ...(ms === undefined ? {} : { timeoutMs: ms }),
              onChange: (r) => {
                const why = notStartedWhy(r);
                if (why && why !== told) info(why);
                told = why;
              },
            });
            printRun(a, run);
            if (run.status !== 'done') {
              info(`run ${run.id} ended ${run.status}${run.message ? `: ${run.message}` : ''}`);
              process.exitCode = 1;
            }
          },
          (y) => y.option('timeout', { type: 'string', describe: 'give up after this long (e.g. 10m)' }) as unknown as Argv<IdArgs>,
        ),
      )
      .demandCommand(1, 'name a run command: find, show, log, stop, retry, rm or wait'),
  handler: () => {},
};
