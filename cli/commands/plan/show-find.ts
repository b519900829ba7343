import type { Argv, CommandModule } from 'yargs';
import { SelectorTag, UserTag } from '../../../core/tags/tag.js';
import { clientFor, type GlobalArgs } from '../../context.js';
import { limitOption, many, parseFlagValues, parseLimit, UsageError } from '../../usage-error.js';
import { printJson } from '../../output.js';
import { planGraphToDot } from '../../../core/plan/graph-dot.js';
import { planGraphToMermaid } from '../../../core/plan/graph-mermaid.js';
import { planGraphToTree } from '../../../core/plan/graph-tree.js';
import { graphFormat, graphFormatOptions, type GraphFormatArgs } from '../../graph-format.js';
import { traceDepths, traceOptions, type TraceArgs } from '../../trace-options.js';
import { printPlan, printPlans } from './render.js';

interface ShowArgs extends GlobalArgs {
  id: string;
  json?: boolean;
}

export const showCommand: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'show <id>',
  describe: 'Show a plan (as YAML on a terminal, JSON otherwise)',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('id', { type: 'string', demandOption: true, describe: 'plan id' })
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan show 5e1b…', 'show one plan') as unknown as Argv<ShowArgs>,
  handler: async (args) => printPlan(args, await clientFor(args).getPlan(args.id)),
};

interface FindArgs extends GlobalArgs {
  active?: string;
  image?: string;
  in?: string[];
  out?: string[];
  limit?: string;
  json?: boolean;
}

export const findCommand: CommandModule<GlobalArgs, FindArgs> = {
  command: 'find',
  describe: 'Find plans by activity, image, input tags and output tags',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .option('active', { type: 'string', choices: ['yes', 'no', 'both'], default: 'both', describe: 'only active, or only inactive, plans' })
      .option('image', { type: 'string', describe: 'image NAME or NAME:TAG' })
      .option('in', { alias: ['i', 'in-tag'], type: 'string', requiresArg: true, describe: 'an input of the plan selects this tag (repeatable)' })
      .option('out', { alias: ['o', 'out-tag'], type: 'string', requiresArg: true, describe: 'an output (or the log) of the plan has this tag (repeatable)' })
      .option('limit', limitOption)
      .option('json', { type: 'boolean', describe: 'print JSON even on a terminal' })
      .example('$0 plan find -i type:dataset', 'plans that take datasets')
      .example('$0 plan find --active no', 'inactive plans') as unknown as Argv<FindArgs>,
  handler: async (args) => {
    const inTags = parseFlagValues('--in', many(args.in), SelectorTag).map((t) => `${t.key}:${t.value}`);
    const outTags = parseFlagValues('--out', many(args.out), UserTag).map((t) => `${t.key}:${t.value}`);
    if (args.active && !['yes', 'no', 'both'].includes(args.active)) throw new UsageError('--active takes yes, no or both');
    const max = parseLimit(args.limit);
    printPlans(
      args,
      await clientFor(args).findPlans({
        ...(args.active === 'yes' ? { active: true } : args.active === 'no' ? { active: false } : {}),
        ...(args.image ? { image: args.image } : {}),
        inTags,
        outTags,
        ...(max !== undefined ? { max } : {}),
      }),
    );
  },
};

interface GraphArgs extends GlobalArgs, GraphFormatArgs, TraceArgs {
  id?: string;
}

export const graphCommand: CommandModule<GlobalArgs, GraphArgs> = {
  command: 'graph [id]',
  describe: 'Show which plans feed which, all or around one plan (a tree, Graphviz dot, mermaid or JSON)',
  builder: (y) =>
    graphFormatOptions(
      traceOptions((y as Argv<GlobalArgs>).positional('id', { type: 'string', describe: 'plan id: only the plans around it (default: every plan)' }), {
        upstream: 'with an id: the plans feeding it',
        downstream: 'with an id: the plans it feeds',
        numbers: 'with an id',
      }),
      { color: false },
    )
      .example('$0 plan graph', 'on a terminal: each plan with the plans it feeds under it')
      .example('$0 plan graph | dot -Tsvg > plans.svg', 'draw the pipeline (piped, the output is dot)')
      .example('$0 plan graph --format mermaid', 'a mermaid flowchart, for a ```mermaid block in Markdown')
      .example('$0 plan graph -d -n all 9a7e…', 'everything built on one plan') as unknown as Argv<GraphArgs>,
  handler: async (args) => {
    const client = clientFor(args);
    let graph;
    if (args.id === undefined) {
      if (args.upstream || args.downstream) throw new UsageError('--upstream and --downstream need a plan id: they trace from it');
      graph = await client.planGraph();
    } else {
      graph = await client.planGraph({ plan: args.id, ...traceDepths(args) });
    }
    const format = graphFormat(args);
    if (format === 'json') printJson(graph);
    else if (format === 'tree') process.stdout.write(planGraphToTree(graph));
    else if (format === 'mermaid') process.stdout.write(planGraphToMermaid(graph));
    else process.stdout.write(planGraphToDot(graph));
  },
};
