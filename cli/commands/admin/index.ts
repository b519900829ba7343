import type { Argv, CommandModule } from 'yargs';
import { knitHome, type GlobalArgs } from '../../context.js';
import { info } from '../../output.js';

const migrateCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'migrate',
  describe: 'Apply pending database migrations to DATABASE_URL (or the embedded database); the API also does this on start',
  builder: (y) => y.example('DATABASE_URL=postgres://knit@db/knit $0 admin migrate', 'migrate a PostgreSQL server'),
  handler: async () => {
    const { migrate } = await import('../../../core/db/migrate.js');
    const { openDatabase } = await import('../../../core/db/open.js');
    const db = await openDatabase({ databaseUrl: process.env['DATABASE_URL'], knitHome: knitHome(), poolMax: 1 });
    try {
      const r = await migrate(db.pool);
      info(r.applied.length === 0 ? `schema is up to date (version ${r.current})` : `applied ${r.applied.map((m) => `${m.version} (${m.name})`).join(', ')}`);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } finally {
      await db.close();
    }
  },
};

export const adminCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'admin',
  describe: 'Server-side administration (runs where the database is reachable)',
  builder: (y: Argv<GlobalArgs>) => y.command(migrateCommand).demandCommand(1, 'name an admin command: migrate'),
  handler: () => {},
};
