import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.js';
import { diffCommand } from './diff.js';
import { findCommand } from './find.js';
import { lineageCommand } from './lineage.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { showCommand } from './show.js';
import { tagCommand } from './tag.js';

export const dataCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'data',
  describe: 'Push, find, tag and pull Data; trace and compare their lineage',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(pushCommand)
      .command(findCommand)
      .command(showCommand)
      .command(tagCommand)
      .command(pullCommand)
      .command(lineageCommand)
      .command(diffCommand)
      .demandCommand(1, 'name a data command: push, find, show, tag, pull, lineage or diff'),
  handler: () => {},
};
