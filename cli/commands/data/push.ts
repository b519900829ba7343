import { basename, join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { UnsafeEntryError } from '../../../core/archive/entry-rules.js';
import { KnitError } from '../../../core/errors/knit-error.js';
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
  dereference?: boolean;
  dir: string[];
}

/** A refused entry named by its path under DIR; a symlink refused for where it points suggests -L. */
function explainUnsafe(err: unknown, dir: string): unknown {
  if (!(err instanceof UnsafeEntryError)) return err;
  const where = join(dir, err.entryPath);
  const hint = err.symlinkTarget !== undefined ? '; push with -L (--dereference) to store what it points to instead' : '';
  return new KnitError('bad_request', `${where}: ${err.reason}${hint}`, { field: 'DIR' });
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
      .option('dereference', { alias: 'L', type: 'boolean', describe: 'follow symlinks: store the files and directories they point to (else they are stored as links, which must point inside DIR)' })
      .example('$0 data push -t type:dataset -t project:mnist ./train', 'push ./train with two tags')
      .example('$0 data push -n ./train ./test', 'push two directories, each tagged with its name')
      .example('$0 data push -L -t type:dataset ./linked', 'push what the symlinks in ./linked point to') as unknown as Argv<Args>,
  handler: async (args) => {
    // knitenv's tags first, then the flags', as Knitfab's CLI adds them.
    const tags = [...new Set([...readKnitenv().tags, ...parseFlagValues('--tag', many(args.tag), UserTag).map((t) => `${t.key}:${t.value}`)])];
    const client = clientFor(args);
    for (const dir of many(args.dir)) {
      const full = resolve(dir);
      const withName = args.name ? [...tags, `name:${basename(full)}`] : tags;
      const bar = new ProgressBar(`pushing ${dir}`);
      let data;
      try {
        data = await client.pushDirectory(full, withName, (done, total) => bar.update(done, total), { dereference: args.dereference === true });
      } catch (err) {
        bar.done();
        throw explainUnsafe(err, dir);
      }
      bar.done();
      info(`pushed ${dir} as ${data.id}`);
      printData(args, data);
    }
  },
};
