import type { Argv, CommandModule } from 'yargs';
import { clientFor, type GlobalArgs } from '../../context.js';
import { info, ProgressBar } from '../../output.js';

interface Args extends GlobalArgs {
  id: string;
  dest?: string;
  extract?: boolean;
}

export const pullCommand: CommandModule<GlobalArgs, Args> = {
  command: 'pull <id> [dest]',
  describe: 'Download Data into DEST as <id>.tar, or extracted into DEST/<id>/ with -x; the digest is verified',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'Data id' })
      .positional('dest', { type: 'string', default: '.', describe: 'directory to download into (created if missing)' })
      .option('extract', { alias: 'x', type: 'boolean', describe: 'extract the archive into DEST/<id>/' })
      .example('$0 data pull -x 3f0c… ./inputs', 'extract into ./inputs/3f0c…/')
      .example('$0 data pull 3f0c…', 'save ./3f0c….tar') as unknown as Argv<Args>,
  handler: async (args) => {
    const bar = new ProgressBar(`pulling ${args.id}`);
    const result = await clientFor(args).pullData(args.id, args.dest ?? '.', {
      extract: args.extract === true,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.done();
    info(`verified ${result.digest}`);
    process.stdout.write(`${result.path}\n`);
  },
};
