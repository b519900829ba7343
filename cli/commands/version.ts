import type { Argv, CommandModule } from 'yargs';
import { VERSION } from '../../core/version.js';
import type { GlobalArgs } from '../context.js';

interface VersionArgs extends GlobalArgs {
  json?: boolean;
}

export const versionCommand: CommandModule<GlobalArgs, VersionArgs> = {
  command: 'version',
  describe: 'Show the version of this knit',
  builder: (y) => (y as Argv<GlobalArgs>).option('json', { type: 'boolean', describe: 'print JSON' }) as unknown as Argv<VersionArgs>,
  handler: (args) => {
    process.stdout.write(args.json ? `${JSON.stringify({ version: VERSION })}\n` : `knit ${VERSION}\n`);
  },
};
