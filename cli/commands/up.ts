import type { Argv, CommandModule } from 'yargs';
import { knitHome, type GlobalArgs } from '../context.js';
import { info } from '../output.js';

interface Args extends GlobalArgs {
  listen: string;
  temporalPort: number;
  uiPort: number;
  ui: boolean;
}

export const upCommand: CommandModule<GlobalArgs, Args> = {
  command: 'up',
  describe: 'Start knit on this machine (database, API) and keep it running until Ctrl-C',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option('listen', { type: 'string', default: '127.0.0.1:7420', describe: 'HOST:PORT for the API' })
      .option('temporal-port', { type: 'number', default: Number(process.env['KNIT_TEMPORAL_PORT'] ?? 7233), describe: 'port of the Temporal dev server (env KNIT_TEMPORAL_PORT)' })
      .option('ui-port', { type: 'number', default: Number(process.env['KNIT_TEMPORAL_UI_PORT'] ?? 8233), describe: 'port of the Temporal web UI' })
      .option('ui', { type: 'boolean', default: true, describe: 'serve the Temporal web UI (--no-ui to skip it)' })
      .example('$0 up', 'start the local stack in ~/.knit')
      .example('KNIT_HOME=/tmp/k $0 up --listen 127.0.0.1:0', 'a throwaway stack on a free port') as unknown as Argv<Args>,
  handler: async (args) => {
    // Loaded on demand: the stack pulls in the embedded database, which other commands never need.
    const { startLocalStack } = await import('../up/local-stack.js');
    const home = knitHome();
    const stack = await startLocalStack({
      home,
      listen: args.listen,
      databaseUrl: process.env['DATABASE_URL'],
      temporalAddress: process.env['TEMPORAL_ADDRESS'],
      temporalPort: args.temporalPort,
      uiPort: args.ui ? args.uiPort : undefined,
      token: args.token ?? process.env['KNIT_TOKEN'],
      log: info,
    });
    process.stdout.write(
      [
        'knit is up',
        `  API:         ${stack.apiUrl}`,
        `  console:     ${stack.apiUrl}/`,
        `  Temporal:    ${stack.temporalAddress}`,
        ...(stack.uiUrl ? [`  Temporal UI: ${stack.uiUrl}  (runs are workflows named run-<run id>)`] : []),
        `  home:        ${home}`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    const reason = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('interrupted'));
      process.once('SIGTERM', () => resolve('terminated'));
      void stack.exited.then(resolve);
    });
    info(`stopping knit (${reason})…`);
    await stack.stop();
    info('knit stopped');
    if (reason !== 'interrupted' && reason !== 'terminated') process.exitCode = 1;
  },
};
