import { pipeline } from 'node:stream/promises';
import type { Argv, CommandModule } from 'yargs';
import { isStdio } from '../../stdio.js';
import { UsageError } from '../../usage-error.js';
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
      .positional('dest', { type: 'string', default: '.', describe: 'directory to download into (created if missing), or - for the archive on stdout' })
      .option('extract', { alias: 'x', type: 'boolean', describe: 'extract the archive into DEST/<id>/' })
      .example('$0 data pull -x 3f0c… ./inputs', 'extract into ./inputs/3f0c…/')
      .example('$0 data pull 3f0c…', 'save ./3f0c….tar')
      .example('$0 data pull 3f0c… - | tar -t', 'the archive on stdout') as unknown as Argv<Args>,
  handler: async (args) => {
    if (isStdio(args.dest)) {
      // The archive to stdout, as Knitfab's `data pull ID -`: verified as it streams; a mismatch
      // holds back the last bytes and exits 1.
      if (args.extract) throw new UsageError('-x extracts into a folder; it cannot go with - (stdout)');
      const { stream, digest } = await clientFor(args).openData(args.id);
      await pipeline(stream, process.stdout, { end: false });
      info(`verified ${digest}`);
      return;
    }
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
