import type { Argv, CommandModule } from 'yargs';
import { lineageToDot } from '../../../core/lineage/dot.js';
import { lineageToMermaid } from '../../../core/lineage/mermaid.js';
import { lineageToTree } from '../../../core/lineage/tree.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { graphFormat, graphFormatOptions, wantsColor, type GraphFormatArgs } from '../../graph-format.js';
import { printJson } from '../../output.js';
import { traceDepths, traceOptions, type TraceArgs } from '../../trace-options.js';

interface Args extends GlobalArgs, GraphFormatArgs, TraceArgs {
  id: string;
}

export const lineageCommand: CommandModule<GlobalArgs, Args> = {
  command: 'lineage <id>',
  describe: 'Trace where a Data came from (-u) and what came of it (-d): a tree, Graphviz dot, mermaid or JSON',
  builder: (y) =>
    graphFormatOptions(
      traceOptions((y as Argv<GlobalArgs>).positional('id', { type: 'string', demandOption: true, describe: 'Data id' }), {
        upstream: 'trace upstream',
        downstream: 'trace downstream',
        numbers: 'how far',
      }),
      { color: true },
    )
      .example('$0 data lineage 3f0c…', 'on a terminal: a tree of what it came from and led to')
      .example('$0 data lineage 3f0c… | dot -Tsvg > lineage.svg', 'draw it (piped, the output is dot)')
      .example('$0 data lineage --format mermaid 3f0c… > lineage.mmd', 'a mermaid flowchart, for a ```mermaid block in Markdown')
      .example('$0 data lineage -u -n all --format json 3f0c…', 'everything it came from, as JSON') as unknown as Argv<Args>,
  handler: async (args) => {
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
