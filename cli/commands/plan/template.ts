import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { Argv, CommandModule } from 'yargs';
import { stringify } from 'yaml';
import { KnitError } from '../../../core/errors/knit-error.js';
import type { GlobalArgs } from '../../context.js';
import { readKnitenv, type Knitenv } from '../../knitenv.js';
import { info } from '../../output.js';
import { isStdio } from '../../stdio.js';
import { UsageError } from '../../usage-error.js';
import { ImageArchiveError, readImageArchive, type ArchivedImage } from './image-archive.js';

interface Args extends GlobalArgs {
  image?: string;
  scratch?: boolean;
  input?: string;
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

/** A plan as `--scratch` and `-i` make it: the fields of a plan file, in their order. */
export interface GeneratedPlan {
  image: string;
  entrypoint?: string[];
  args?: string[];
  inputs: Array<{ path: string; tags: string[] }>;
  outputs: Array<{ path: string; tags: string[] }>;
  log: { tags: string[] };
  active: boolean;
  resources: Record<string, string>;
}

// Knitfab's placeholder tag, for a mount that would otherwise have none (an input needs one).
const EXAMPLE_TAG = 'example:tag';

/** cpu 1 and memory 1Gi unless the knitenv says otherwise, as Knitfab's template does. */
function defaultResources(env: Knitenv): Record<string, string> {
  return { cpu: '1', memory: '1Gi', ...env.resources };
}

/**
 * `plan template --scratch`: a plan read from no image, as Knitfab's: input /in, output /out, a
 * type:log log, the knitenv tags. Unlike Knitfab's, the input and the output differ by a type tag:
 * with the same tags the plan's output would be its own input, a cycle that apply refuses.
 */
export function planFromScratch(env: Knitenv): GeneratedPlan {
  return {
    image: 'image:version',
    inputs: [{ path: '/in', tags: [...env.tags, 'type:dataset'] }],
    outputs: [{ path: '/out', tags: [...env.tags, 'type:model'] }],
    log: { tags: ['type:log', ...env.tags] },
    active: true,
    resources: defaultResources(env),
  };
}

// Words of a shell command line: whatever lies between blanks, quotes, redirections, `=` and the like.
const WORD_BREAK = /[\s;|&<>()'"`=,]+/;

/** The mount path `word` names when it has a path segment `in` (an input) or `out` (an output). */
function mountOf(word: string, workingDir: string): { kind: 'in' | 'out'; path: string } | undefined {
  const segments = word.split('/');
  const kind = segments.includes('in') ? 'in' : segments.includes('out') ? 'out' : undefined;
  if (!kind) return undefined;
  const path = posix.normalize(posix.isAbsolute(word) ? word : posix.join(workingDir || '/', word)).replace(/\/+$/, '');
  // A path a plan could not mount (the root, or one holding ':') is no mount point.
  if (path === '' || path === '/' || path.includes(':')) return undefined;
  return { kind, path };
}

/** `type:<the last segment that is not in or out>`, after the knitenv tags; EXAMPLE_TAG if that leaves none. */
function mountTags(path: string, env: Knitenv): string[] {
  const type = path.split('/').filter((s) => s !== '' && s !== 'in' && s !== 'out').pop();
  const tags = [...env.tags, ...(type !== undefined ? [`type:${type}`] : [])];
  return tags.length > 0 ? tags : [EXAMPLE_TAG];
}

/** The image of the archive the plan is for: the one tagged `wanted`, else the only one; its image name. */
export function chooseImage(images: readonly ArchivedImage[], wanted: string | undefined, name: string): { image: ArchivedImage; ref: string } {
  const all = images.flatMap((i) => i.repoTags);
  if (wanted !== undefined) {
    const image = images.find((i) => i.repoTags.includes(wanted));
    if (image) return { image, ref: wanted };
    // An archive saved by image id has no tags to choose from: the argument names it.
    if (all.length === 0 && images.length === 1) return { image: images[0]!, ref: wanted };
    throw new UsageError(`${wanted}: ${name} holds no image tagged so; it has ${all.join(', ') || 'untagged images only'}`);
  }
  if (images.length > 1 || all.length > 1) {
    throw new UsageError(`${name} holds ${all.length > 1 ? `several image tags (${all.join(', ')})` : `${images.length} images`}; name the one to use: knit plan template -i FILE IMAGE:TAG`);
  }
  const ref = all[0];
  if (ref === undefined) throw new UsageError(`${name} holds an image without a tag (saved by id?); name it: knit plan template -i FILE IMAGE:TAG`);
  return { image: images[0]!, ref };
}

/**
 * `plan template -i`: a plan for an archived image. Its ENTRYPOINT and CMD become entrypoint and
 * args; every path among them and its VOLUMEs (relative ones joined to WORKDIR) with a segment
 * `in` becomes an input, `out` an output. A path inside another mount is left out, since mount
 * points must not nest. With no input path found, `/in` stands in: a plan needs an input.
 */
export function planFromImage(image: ArchivedImage, ref: string, env: Knitenv, warn: (message: string) => void = () => {}): GeneratedPlan {
  const words = [...image.entrypoint, ...image.cmd].flatMap((a) => a.split(WORD_BREAK)).filter((w) => w !== '');
  const found = [...words, ...image.volumes].map((w) => mountOf(w, image.workingDir)).filter((m) => m !== undefined);
  const kept: Array<{ kind: 'in' | 'out'; path: string }> = [];
  for (const m of found.sort((a, b) => a.path.length - b.path.length)) {
    if (!kept.some((k) => k.path === m.path || m.path.startsWith(`${k.path}/`))) kept.push(m);
  }
  const mounts = (kind: 'in' | 'out') => kept.filter((m) => m.kind === kind).map((m) => ({ path: m.path, tags: mountTags(m.path, env) })).sort((a, b) => a.path.localeCompare(b.path));
  let inputs = mounts('in');
  if (inputs.length === 0) {
    warn('the image names no path with a segment "in" (in ENTRYPOINT, CMD or VOLUME); the plan reads /in: change it to where the image reads');
    inputs = [{ path: '/in', tags: mountTags('/in', env) }];
  }
  return {
    image: ref,
    ...(image.entrypoint.length > 0 ? { entrypoint: image.entrypoint } : {}),
    ...(image.cmd.length > 0 ? { args: image.cmd } : {}),
    inputs,
    outputs: mounts('out'),
    log: { tags: ['type:log', ...env.tags] },
    active: true,
    resources: defaultResources(env),
  };
}

/** A generated plan as a plan file, with a header saying where it came from and what to check. */
export function renderGeneratedPlan(plan: GeneratedPlan, from: string): string {
  return `# A knit Plan made from ${from}: check the paths and tags, then
#   knit plan apply THIS_FILE --dry-run
# (knit plan template IMAGE prints every field, commented.)
${stringify(plan, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', aliasDuplicateObjects: false })}`;
}

async function openArchive(input: string): Promise<{ stream: Readable; name: string }> {
  if (isStdio(input)) return { stream: process.stdin, name: 'stdin' };
  const stream = createReadStream(input);
  // Surface a missing or unreadable file as such before reading starts.
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`-i ${input}: cannot read it: ${err.code ?? err.message}`)));
  });
  return { stream, name: input };
}

export const templateCommand: CommandModule<GlobalArgs, Args> = {
  command: 'template [image]',
  describe: 'Print a plan file to start from: commented, from nothing (--scratch), or from an image archive (-i)',
  builder: (y) =>
    (y as Argv<GlobalArgs>)
      .positional('image', { type: 'string', describe: 'image NAME:TAG to put in it; with -i, which of the archive\'s tags to use' })
      .option('scratch', { type: 'boolean', describe: 'a plan read from no image: input /in, output /out, knitenv tags and resources' })
      .option('input', { alias: 'i', type: 'string', describe: 'a docker save archive (- for stdin) whose ENTRYPOINT, CMD, WORKDIR and VOLUMEs make the plan' })
      .conflicts('scratch', 'input')
      .example('$0 plan template my/trainer:1.0 > train.yaml', 'start a plan for an image')
      .example('docker save my/trainer:1.0 | $0 plan template -i - > train.yaml', 'a plan from the image itself')
      .example('$0 plan template -i image.tar my/trainer:1.0', 'choose one of the archive\'s tags')
      .example('$0 plan template --scratch > plan.yaml', 'a plan from nothing') as unknown as Argv<Args>,
  handler: async (args) => {
    const env = readKnitenv();
    if (args.scratch) {
      if (args.image !== undefined) throw new UsageError('--scratch makes a plan from no image: give no IMAGE:TAG with it');
      process.stdout.write(renderGeneratedPlan(planFromScratch(env), 'nothing (--scratch); set the image'));
      return;
    }
    if (args.input === undefined) {
      process.stdout.write(planTemplate(args.image, env));
      return;
    }
    if (args.input === '') throw new UsageError('-i needs a docker save archive, or - for stdin');
    const { stream, name } = await openArchive(args.input);
    let images: ArchivedImage[];
    try {
      images = await readImageArchive(stream, name);
    } catch (err) {
      if (err instanceof ImageArchiveError) throw new KnitError('bad_request', err.message, { field: 'input' });
      throw err;
    }
    const { image, ref } = chooseImage(images, args.image, name);
    process.stdout.write(renderGeneratedPlan(planFromImage(image, ref, env, (m) => info(m)), ref));
  },
};
