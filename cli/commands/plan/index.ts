import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.js';
import { applyCommand } from './apply.js';
import { activeCommand, annotateCommand, resourceCommand, serviceAccountCommand } from './change.js';
import { findCommand, graphCommand, showCommand } from './show-find.js';
import { templateCommand } from './template.js';

export const planCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'plan',
  describe: 'Write, apply and manage Plans',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(templateCommand)
      .command(applyCommand)
      .command(showCommand)
      .command(findCommand)
      .command(activeCommand)
      .command(resourceCommand)
      .command(annotateCommand)
      .command(serviceAccountCommand)
      .command(graphCommand)
      .demandCommand(1, 'name a plan command: template, apply, show, find, active, resource, annotate or graph'),
  handler: () => {},
};
