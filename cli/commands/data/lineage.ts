import type { Argv, CommandModule } from 'yargs';
import { lineageToDot } from '../../../core/lineage/dot.js';
import { impactSummary, type Impact } from '../../../core/lineage/impact.js';
import { lineageToMermaid } from '../../../core/lineage/mermaid.js';
import { lineageToTree } from '../../../core/lineage/tree.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { graphFormat, graphFormatOptions, wantsColor, type GraphFormatArgs } from '../../graph-format.js';
import { info, printJson, printTable, wantsJson } from '../../output.js';
import { traceDepths, traceOptions, type TraceArgs } from '../../trace-options.js';
import { UsageError } from '../../usage-error.js';

interface Args extends GlobalArgs, GraphFormatArgs, TraceArgs {
  id: string;
  impact?: boolean;
  json?: boolean;
}

export const lineageCommand: CommandModule<GlobalArgs, Args> = {
  command: 'lineage <id>',
  describe: 'Trace where a Data came from (-u) and what came of it (-d): a tree, Graphviz dot, mermaid or JSON; or what would be stale were it wrong (--impact)',
  builder: (y) =>
    graphFormatOptions(
      traceOptions((y as Argv<GlobalArgs>).positional('id', { type: 'string', demandOption: true, describe: 'Data id' }), {
        upstream: 'trace upstream',
        downstream: 'trace downstream',
        numbers: 'how far',
      }),
      { color: true },
    )
      .option('impact', { type: 'boolean', describe: 'list every run and Data downstream (all generations) that would be stale were this Data wrong; changes nothing' })
      .option('json', { type: 'boolean', describe: 'with --impact: print JSON even on a terminal' })
      .example('$0 data lineage 3f0c…', 'on a terminal: a tree of what it came from and led to')
      .example('$0 data lineage 3f0c… | dot -Tsvg > lineage.svg', 'draw it (piped, the output is dot)')
      .example('$0 data lineage --format mermaid 3f0c… > lineage.mmd', 'a mermaid flowchart, for a ```mermaid block in Markdown')
      .example('$0 data lineage -u -n all --format json 3f0c…', 'everything it came from, as JSON')
      .example('$0 data lineage --impact 3f0c…', 'what was made from it, and would be stale') as unknown as Argv<Args>,
  handler: async (args) => {
    if (args.impact) {
      if (args.upstream) throw new UsageError('--impact lists what is downstream: leave out --upstream');
      return printImpact(args, await clientFor(args).impact(args.id));
    }
    const lineage = await clientFor(args).lineage(args.id, traceDepths(args));
    // On stderr, so a cut graph piped into dot still renders, and the person still learns it is cut.
    if (lineage.truncated) process.stderr.write(`knit: ${lineage.truncated.message}\n`);
    const format = graphFormat(args);
    if (format === 'json') printJson(lineage);
    else if (format === 'tree') process.stdout.write(lineageToTree(lineage, { color: wantsColor(args) }));
    else if (format === 'mermaid') process.stdout.write(lineageToMermaid(lineage));
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
