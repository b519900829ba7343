import type { Argv, CommandModule } from 'yargs';
import { clientFor, type GlobalArgs } from '../../context.js';
import { many, UsageError } from '../../usage-error.js';
import { printPlan } from './render.js';

interface ActiveArgs extends GlobalArgs {
  state: string;
  id: string;
  json?: boolean;
}

export const activeCommand: CommandModule<GlobalArgs, ActiveArgs> = {
  command: 'active <state> <id>',
  describe: 'Activate (yes) or deactivate (no) a plan; runs created meanwhile wait as deactivated',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('state', { type: 'string', choices: ['yes', 'no', 'true', 'false'], demandOption: true })
      .positional('id', { type: 'string', demandOption: true, describe: 'plan id' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan active no 5e1b…', 'hold the plan\'s new runs back') as unknown as Argv<ActiveArgs>,
  handler: async (args) => {
    const active = args.state === 'yes' || args.state === 'true';
    printPlan(args, await clientFor(args).setPlanActive(args.id, active));
  },
};

interface ResourceArgs extends GlobalArgs {
  id: string;
  set?: string[];
  unset?: string[];
  json?: boolean;
}

export const resourceCommand: CommandModule<GlobalArgs, ResourceArgs> = {
  command: 'resource <id>',
  describe: 'Change the resources (cpu, memory, gpu…) of a plan\'s future runs',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'plan id' })
      .option('set', { alias: 's', type: 'string', requiresArg: true, describe: 'TYPE=QUANTITY, e.g. cpu=2 or memory=4Gi (repeatable)' })
      .option('unset', { alias: 'u', type: 'string', requiresArg: true, describe: 'remove a resource TYPE (repeatable)' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan resource --set cpu=2 --set memory=4Gi 5e1b…', 'more for each run') as unknown as Argv<ResourceArgs>,
  handler: async (args) => {
    const set: Record<string, string> = {};
    for (const s of many(args.set)) {
      const eq = s.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set ${JSON.stringify(s)}: must be TYPE=QUANTITY, such as cpu=2`);
      set[s.slice(0, eq).trim()] = s.slice(eq + 1).trim();
    }
    const unset = many(args.unset);
    if (Object.keys(set).length + unset.length === 0) throw new UsageError('nothing to change: give --set or --unset');
    printPlan(args, await clientFor(args).changePlanResources(args.id, { set, unset }));
  },
};

interface AnnotateArgs extends GlobalArgs {
  id: string;
  add?: string[];
  remove?: string[];
  removeKey?: string[];
  json?: boolean;
}

export const annotateCommand: CommandModule<GlobalArgs, AnnotateArgs> = {
  command: 'annotate <id>',
  describe: 'Add and remove a plan\'s "key=value" annotations',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'plan id' })
      .option('add', { type: 'string', requiresArg: true, describe: 'key=value to add (repeatable)' })
      .option('remove', { type: 'string', requiresArg: true, describe: 'key=value to remove (repeatable)' })
      .option('remove-key', { type: 'string', requiresArg: true, describe: 'remove every annotation with this key (repeatable)' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan annotate --add owner=ml-team 5e1b…', 'note who owns it') as unknown as Argv<AnnotateArgs>,
  handler: async (args) => {
    const add = many(args.add);
    for (const a of add) if (!/^[^=\s][^=]*=/.test(a)) throw new UsageError(`--add ${JSON.stringify(a)}: must be key=value`);
    const remove = many(args.remove);
    const removeKey = many(args.removeKey);
    if (add.length + remove.length + removeKey.length === 0) throw new UsageError('nothing to change: give --add, --remove or --remove-key');
    printPlan(args, await clientFor(args).annotatePlan(args.id, { add, remove, removeKey }));
  },
};

interface ServiceAccountArgs extends GlobalArgs {
  id: string;
  set?: string;
  unset?: boolean;
  json?: boolean;
}

export const serviceAccountCommand: CommandModule<GlobalArgs, ServiceAccountArgs> = {
  command: 'serviceaccount <id>',
  describe: 'Set or unset the Kubernetes service account of a plan\'s future runs',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'plan id' })
      .option('set', { type: 'string', requiresArg: true, describe: 'the service account name' })
      .option('unset', { type: 'boolean', describe: 'run without a service account of the plan\'s own' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan serviceaccount --set trainer 5e1b…', 'runs get the service account trainer') as unknown as Argv<ServiceAccountArgs>,
  handler: async (args) => {
    if ((args.set === undefined) === (args.unset !== true)) throw new UsageError('give exactly one of --set NAME or --unset');
    printPlan(args, await clientFor(args).setPlanServiceAccount(args.id, args.unset ? null : args.set!));
  },
};
