import type { Argv, CommandModule } from 'yargs';
import { SelectorTag } from '../../../core/tags/tag.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { limitOption, many, parseFlagValues, parseLimit } from '../../usage-error.js';
import { printDataList } from './render.js';

interface Args extends GlobalArgs {
  tag?: string[];
  since?: string;
  duration?: string;
  transient?: string;
  limit?: string;
  json?: boolean;
}

export const findCommand: CommandModule<GlobalArgs, Args> = {
  command: 'find',
  describe: 'Find Data holding every given tag, oldest first',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option('tag', { alias: 't', type: 'string', requiresArg: true, describe: 'KEY:VALUE the Data must hold (repeatable, ANDed); knit#id: and knit#timestamp: work too' })
      .option('since', { type: 'string', describe: 'only Data created at or after this RFC3339 time' })
      .option('duration', { type: 'string', describe: 'with --since: only Data created within this long after it (e.g. 30m, 2h, 1d)' })
      .option('transient', { type: 'string', choices: ['both', 'yes', 'true', 'no', 'false'], default: 'both', describe: 'yes: only Data still being written or from failed runs (knit#transient); no: only the others' })
      .option('limit', limitOption)
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 data find -t type:dataset', 'list every dataset')
      .example('$0 data find -t type:model --transient no', 'only finished models')
      .example('$0 data find --since 2026-01-01T00:00:00Z --duration 7d --json', 'Data from the first week of 2026, as JSON') as unknown as Argv<Args>,
  handler: async (args) => {
    const tags = parseFlagValues('--tag', many(args.tag), SelectorTag).map((t) => `${t.key}:${t.value}`);
    const max = parseLimit(args.limit);
    const list = await clientFor(args).findData({
      tags,
      ...(max !== undefined ? { max } : {}),
      ...(args.since !== undefined ? { since: args.since } : {}),
      ...(args.duration !== undefined ? { duration: args.duration } : {}),
    });
    const transient = (d: { tags: string[] }) => d.tags.some((t) => t.startsWith('knit#transient:'));
    const want = args.transient === 'yes' || args.transient === 'true' ? true : args.transient === 'no' || args.transient === 'false' ? false : undefined;
    printDataList(args, want === undefined ? list : list.filter((d) => transient(d) === want));
  },
};
