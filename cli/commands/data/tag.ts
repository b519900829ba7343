import type { Argv, CommandModule } from 'yargs';
import { UserTag } from '../../../core/tags/tag.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { many, parseFlagValues, UsageError } from '../../usage-error.js';
import { printData } from './render.js';

interface Args extends GlobalArgs {
  id: string;
  add?: string[];
  remove?: string[];
  removeKey?: string[];
  json?: boolean;
}

export const tagCommand: CommandModule<GlobalArgs, Args> = {
  command: 'tag <id>',
  describe: 'Add and remove tags of a Data, all at once (removals first)',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'Data id' })
      .option('add', { type: 'string', requiresArg: true, describe: 'tag KEY:VALUE to add (repeatable)' })
      .option('remove', { type: 'string', requiresArg: true, describe: 'tag KEY:VALUE to remove (repeatable)' })
      .option('remove-key', { type: 'string', requiresArg: true, describe: 'remove every tag with this KEY (repeatable)' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 data tag --add stage:validated --remove stage:raw 3f0c…', 'move a Data from raw to validated') as unknown as Argv<Args>,
  handler: async (args) => {
    const add = parseFlagValues('--add', many(args.add), UserTag).map((t) => `${t.key}:${t.value}`);
    const remove = parseFlagValues('--remove', many(args.remove), UserTag).map((t) => `${t.key}:${t.value}`);
    const removeKey = many(args.removeKey).map((k) => k.trim());
    if (add.length + remove.length + removeKey.length === 0) throw new UsageError('nothing to change: give --add, --remove or --remove-key');
    printData(args, await clientFor(args).tagData(args.id, { add, remove, removeKey }));
  },
};
