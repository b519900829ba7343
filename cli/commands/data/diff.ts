import type { Argv, CommandModule } from 'yargs';
import { formatDiff } from '../../../core/lineage/diff.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { info, printJson } from '../../output.js';

interface Args extends GlobalArgs {
  a: string;
  b: string;
  json?: boolean;
}

export const diffCommand: CommandModule<GlobalArgs, Args> = {
  command: 'diff <a> <b>',
  describe: 'Explain why two Data differ by how they were made: plans, images, commands, resources, inputs',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('a', { type: 'string', demandOption: true, describe: 'Data id (A)' })
      .positional('b', { type: 'string', demandOption: true, describe: 'Data id (B)' })
      .option('json', { type: 'boolean', describe: 'print the differences as JSON' })
      .example('$0 data diff 3f0c… 9a1b…', 'why these two models differ') as unknown as Argv<Args>,
  handler: async (args) => {
    const diff = await clientFor(args).diff(args.a, args.b);
    // Readable text unless JSON is asked for: the point is an explanation for a person.
    if (args.json) printJson(diff);
    else process.stdout.write(formatDiff(diff));
    if (diff.truncated) info(`knit: ${diff.truncated.message}`);
  },
};
