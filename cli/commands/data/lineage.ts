import type { Argv, CommandModule } from 'yargs';
import { lineageToDot } from '../../../core/lineage/dot.js';
import { impactSummary, type Impact } from '../../../core/lineage/impact.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { info, printJson, printTable, wantsJson } from '../../output.js';
import { parseDepth, UsageError } from '../../usage-error.js';

interface Args extends GlobalArgs {
  id: string;
  upstream?: boolean;
  downstream?: boolean;
  numbers: string;
  format: string;
  impact?: boolean;
  json?: boolean;
}

export const lineageCommand: CommandModule<GlobalArgs, Args> = {
  command: 'lineage <id>',
  describe: 'Trace where a Data came from (-u) and what came of it (-d): Graphviz dot, or JSON; or what would be stale were it wrong (--impact)',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'Data id' })
      .option('upstream', { alias: 'u', type: 'boolean', describe: 'trace upstream (default: both ways)' })
      .option('downstream', { alias: 'd', type: 'boolean', describe: 'trace downstream (default: both ways)' })
      .option('numbers', { alias: 'n', type: 'string', default: '3', describe: 'generations to trace, or "all"' })
      .option('format', { type: 'string', choices: ['dot', 'json'], default: 'dot', describe: 'output format' })
      .option('impact', { type: 'boolean', describe: 'list every run and Data downstream (all generations) that would be stale were this Data wrong; changes nothing' })
      .option('json', { type: 'boolean', describe: 'with --impact: print JSON even on a terminal' })
      .example('$0 data lineage 3f0c… | dot -Tsvg > lineage.svg', 'draw it')
      .example('$0 data lineage -u -n all --format json 3f0c…', 'everything it came from, as JSON')
      .example('$0 data lineage --impact 3f0c…', 'what was made from it, and would be stale') as unknown as Argv<Args>,
  handler: async (args) => {
    if (args.impact) {
      if (args.upstream) throw new UsageError('--impact lists what is downstream: leave out --upstream');
      return printImpact(args, await clientFor(args).impact(args.id));
    }
    const n = parseDepth(args.numbers);
    const both = !args.upstream && !args.downstream;
    const lineage = await clientFor(args).lineage(args.id, { up: both || args.upstream ? n : 0, down: both || args.downstream ? n : 0 });
    // On stderr, so a cut graph piped into dot still renders, and the person still learns it is cut.
    if (lineage.truncated) process.stderr.write(`knit: ${lineage.truncated.message}\n`);
    if (args.format === 'json') printJson(lineage);
    else process.stdout.write(lineageToDot(lineage));
  },
};

/** The impact as data on stdout (JSON, or a table on a terminal), its summary on stderr. */
function printImpact(args: Args, impact: Impact): void {
  if (impact.truncated) info(`knit: ${impact.truncated.message}`);
  if (wantsJson({ json: args.json === true || args.format === 'json' })) printJson(impact);
  else {
    printTable(
      ['KIND', 'ID', 'PLAN/TAGS', 'STATUS', 'DEPTH'],
      impact.items.map((i) => [i.kind, i.id, i.kind === 'run' ? `${i.planId ?? ''} (${i.image ?? ''})` : i.tags.join(' '), i.status, String(i.depth)]),
    );
  }
  info(impactSummary(impact));
}
