import type { Argv, CommandModule } from 'yargs';
import { clientFor, type GlobalArgs } from '../../context.js';
import { printData } from './render.js';

interface Args extends GlobalArgs {
  id: string;
  json?: boolean;
}

export const showCommand: CommandModule<GlobalArgs, Args> = {
  command: 'show <id>',
  describe: 'Show one Data: tags, size, digest and origin',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'Data id (its knit#id)' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 data show 3f0c2a9e-…', 'show one Data') as unknown as Argv<Args>,
  handler: async (args) => {
    printData(args, await clientFor(args).getData(args.id));
  },
};
