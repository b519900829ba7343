import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.js';
import { readKnitenv, type Knitenv } from '../../knitenv.js';

interface Args extends GlobalArgs {
  image?: string;
}

/** A plan file with every field, commented: what `knit plan template` prints. */
export function planTemplate(image = 'IMAGE:TAG', env: Knitenv = { tags: [], resources: {} }): string {
  const tagLines = (example: string[], indent: string) => (env.tags.length > 0 ? env.tags : example).map((t) => `${indent}- ${JSON.stringify(t)}`).join('\n');
  const resources = Object.keys(env.resources).length > 0 ? env.resources : { cpu: '1', memory: '1Gi' };
  const resourceLines = Object.entries(resources).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n');
  return `# A knit Plan: run IMAGE on every combination of Data matching the inputs' tags.
# Apply it with: knit plan apply THIS_FILE   (add --dry-run to see the runs it would start)

# image: the container image, with a tag (required, so runs are reproducible).
image: "${image}"

# entrypoint and args (optional): override the image's ENTRYPOINT and CMD.
# entrypoint: ["python", "train.py"]
# args: ["--epochs", "10"]

# (Tags and resources come from the knitenv file when there is one.)

# inputs: at least one. Each input is mounted read-only at its absolute path, and takes every
# Data holding all its tags (extra tags are fine). Select one Data with "knit#id:<id>".
inputs:
  - path: "/in/dataset"
    tags:
${tagLines(['type:dataset', 'project:example'], '      ')}

# outputs: each path starts as an empty writable directory; whatever the container writes
# there becomes a new Data with these tags, which can feed the next plans.
outputs:
  - path: "/out/model"
    tags:
${tagLines(['type:model', 'project:example'], '      ')}

# log (optional): tags for the Data holding the container's stdout and stderr. Without this
# section the log is still kept, untagged.
log:
  tags:
${tagLines(['type:log', 'project:example'], '    ')}

# active (optional, mutable; default true): false holds new runs back until reactivated.
active: true

# resources (optional, mutable): limits for each run's container, in Kubernetes notation.
# cpu at least 10m, memory at least 6Mi, neither above the deployment's KNIT_MAX_CPU/KNIT_MAX_MEMORY.
resources:
${resourceLines}
  # gpu: 1

# on_node (optional): node placement on Kubernetes, "key=value" labels or taints.
# Ignored (with a warning in the log) when runs execute on Docker.
# on_node:
#   may: ["accelerator=gpu"]
#   prefer: ["vram=large"]
#   must: ["zone=a"]

# service_account (optional, mutable): Kubernetes service account for the run's pod.
# service_account: "default"

# network (optional, knit only; default false): true lets each run's container use the network
# (download weights, call services). Without it a run reaches only its inputs and outputs.
# network: false

# annotations (optional, mutable): "key=value" notes for people; they change nothing.
annotations:
  - "description=an example plan"
`;
}

export const templateCommand: CommandModule<GlobalArgs, Args> = {
  command: 'template [image]',
  describe: 'Print a commented plan file to start from',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('image', { type: 'string', describe: 'image NAME:TAG to put in it' })
      .example('$0 plan template my/trainer:1.0 > train.yaml', 'start a plan for an image') as unknown as Argv<Args>,
  handler: (args) => {
    process.stdout.write(planTemplate(args.image, readKnitenv()));
  },
};
