import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { parse as parseYaml } from 'yaml';
import { KnitError } from '../../core/errors/knit-error.js';
import { parseOrThrow } from '../../core/validation/parse.js';
import { knitHome, type GlobalArgs } from '../context.js';
import { info } from '../output.js';
import { KnitfabProfile, readStore, storePath, writeStore } from '../profile-store.js';

interface InitArgs extends GlobalArgs {
  file: string;
}

export const initCommand: CommandModule<GlobalArgs, InitArgs> = {
  command: 'init <file>',
  describe: 'Use the profile in FILE (apiRoot, cert) for this folder: store it and name it in ./.knitprofile',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('file', { type: 'string', demandOption: true, describe: 'a profile file, as Knitfab hands them out' })
      .example('$0 init ./knitprofile', 'this folder and below now talk to the knit the profile names') as unknown as Argv<InitArgs>,
  handler: (args) => {
    let text: string;
    try {
      text = readFileSync(args.file, 'utf8');
    } catch (err) {
      throw new KnitError('bad_request', `file ${args.file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { field: 'file' });
    }
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (err) {
      throw new KnitError('bad_request', `file ${args.file}: is not YAML: ${(err as Error).message.split('\n')[0]}`, { field: 'file' });
    }
    const profile = parseOrThrow(KnitfabProfile, raw, 'file');
    const name = args.profile ?? process.cwd();
    const path = storePath(knitHome(), args, process.env);
    writeStore(path, { ...readStore(path), [name]: profile });
    writeFileSync(join(process.cwd(), '.knitprofile'), name);
    info(`profile ${name} is saved to ${path}`);
  },
};
