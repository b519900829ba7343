import { basename, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { UserTag } from '../../../core/tags/tag.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { readKnitenv } from '../../knitenv.js';
import { info, ProgressBar } from '../../output.js';
import { printData } from './render.js';
import { many, parseFlagValues } from '../../usage-error.js';

interface Args extends GlobalArgs {
  tag?: string[];
  name?: boolean;
  json?: boolean;
  dir: string[];
}

export const pushCommand: CommandModule<GlobalArgs, Args> = {
  command: 'push <dir..>',
  describe: 'Push (register) directories as new immutable Data with tags',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('dir', { type: 'string', array: true, demandOption: true, describe: 'directory to push; one Data per directory' })
      .option('tag', { alias: 't', type: 'string', requiresArg: true, describe: 'tag KEY:VALUE to put on the Data (repeatable); knitenv\'s tags are added too' })
      .option('name', { alias: 'n', type: 'boolean', describe: 'also add the tag name:<directory name>' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 data push -t type:dataset -t project:mnist ./train', 'push ./train with two tags')
      .example('$0 data push -n ./train ./test', 'push two directories, each tagged with its name') as unknown as Argv<Args>,
  handler: async (args) => {
    // knitenv's tags first, then the flags', as Knitfab's CLI adds them.
    const tags = [...new Set([...readKnitenv().tags, ...parseFlagValues('--tag', many(args.tag), UserTag).map((t) => `${t.key}:${t.value}`)])];
    const client = clientFor(args);
    for (const dir of many(args.dir)) {
      const full = resolve(dir);
      const withName = args.name ? [...tags, `name:${basename(full)}`] : tags;
      const bar = new ProgressBar(`pushing ${dir}`);
      const data = await client.pushDirectory(full, withName, (done, total) => bar.update(done, total));
      bar.done();
      info(`pushed ${dir} as ${data.id}`);
      printData(args, data);
    }
  },
};
