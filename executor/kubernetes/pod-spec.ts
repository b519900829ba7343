import { createHash } from 'node:crypto';
import type { V1Affinity, V1Container, V1EnvVar, V1NodeSelectorRequirement, V1Pod, V1PreferredSchedulingTerm, V1ResourceRequirements, V1Toleration } from '@kubernetes/client-node';
import { isQuantity } from '../../core/plan/quantity.js';
import type { AttemptContext } from '../../core/run/model.js';

/**
 * The same label keys as the Docker executor's containers (valid Kubernetes label keys), so one
 * selector finds an instance's work on either platform.
 */
export const LABEL_INSTANCE = 'knit.instance';
export const LABEL_RUN = 'knit.run';
export const LABEL_ATTEMPT = 'knit.attempt';
export const LABEL_PLAN = 'knit.plan';
/**
 * "true" when the plan may use the network. Kubernetes has no per-container network switch: a
 * NetworkPolicy of the deployment selects the Pods labelled "false" and allows them knitd only
 * (the agent shares the Pod's network).
 */
export const LABEL_NETWORK = 'knit.network';

/** The names of the Pod's containers: the executor finds them by these. */
export const CONTAINER = { keep: 'keep', run: 'run' } as const;

/** The gate `create` puts on the Pod and `start` removes: the Pod exists but is not scheduled. */
export const START_GATE = 'knit/start';

/** The same names as Docker's GPU resources, so one plan asks for GPUs the same way on both. */
export const GPU_RESOURCES = ['gpu', 'nvidia.com/gpu'];

/**
 * Long, because the sidecar uploads the outputs after the run's container ended and a Pod's
 * deletion must not cut that short; knit times a stop itself (the agent's `stop --grace`).
 */
export const TERMINATION_GRACE_SECONDS = 3600;

export interface PodSpecOptions {
  namespace: string;
  instance: string;
  agent: { image: string; entrypoint: string[]; url: string; token: string };
  /** The extended resource a plan's `gpu` asks for (the device plugin's name). */
  gpuResource: string;
  capAdd: string[];
}

const MAX_NAME = 63;

/**
 * The Pod's deterministic name, so a retried activity finds the Pod instead of making another.
 * A DNS-1123 label (at most 63 characters, as a Pod's hostname is): a longer name keeps its
 * start and ends with a hash of the whole, so two attempts never share one.
 */
export function podName(instance: string, runId: string, attempt: number): string {
  const full = `${instance}-run-${runId}-a${attempt}`.toLowerCase();
  if (full.length <= MAX_NAME && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(full)) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  const head = full.replace(/[^a-z0-9-]/g, '-').slice(0, MAX_NAME - hash.length - 1).replace(/^-+/, '');
  return `${head || 'knit'}-${hash}`;
}

/** `key=value` split at the first '=' (the plan spec allows '=' in the value). */
function keyValue(entry: string): [string, string] {
  const at = entry.indexOf('=');
  return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
}

/** The plan's annotations, as the attempt began with them (core/run/attempt.ts). */
export function contextAnnotations(ctx: AttemptContext): Record<string, string> {
  return { ...(ctx.annotations ?? {}) };
}

export function resourceRequirements(resources: Record<string, string>, gpuResource: string): V1ResourceRequirements | undefined {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  const gpus: string[] = [];
  for (const [name, value] of Object.entries(resources)) {
    if (GPU_RESOURCES.includes(name)) {
      gpus.push(value);
      continue;
    }
    requests[name] = value;
    limits[name] = value;
  }
  if (gpus.length === 1) limits[gpuResource] = gpus[0]!;
  // Both spellings given: their sum, as Docker counts them (whole numbers, checked when applied).
  else if (gpus.length > 1) limits[gpuResource] = String(gpus.reduce((n, v) => n + Number(v), 0));
  if (Object.keys(limits).length === 0) return undefined;
  // Extended resources (GPUs) are limits only: Kubernetes sets the request equal to the limit.
  return Object.keys(requests).length > 0 ? { requests, limits } : { limits };
}

/**
 * Plan `on_node` as Kubernetes placement, in the meaning Knitfab gave it:
 * - may: the Pod tolerates the label as a NoSchedule taint (it may go to such nodes);
 * - prefer: tolerates it (NoSchedule, PreferNoSchedule) and prefers nodes labelled so;
 * - must: tolerates it and requires a node labelled so (values of one key are alternatives).
 */
export function placement(onNode: AttemptContext['onNode']): { tolerations?: V1Toleration[]; affinity?: V1Affinity } {
  const tolerations = new Map<string, V1Toleration>();
  const tolerate = (key: string, value: string, effect: string) => tolerations.set(JSON.stringify([key, value, effect]), { key, operator: 'Equal', value, effect });
  const preferred = new Map<string, Set<string>>();
  const required = new Map<string, Set<string>>();
  const add = (m: Map<string, Set<string>>, key: string, value: string) => m.set(key, (m.get(key) ?? new Set()).add(value));
  for (const entry of onNode.may) tolerate(...keyValue(entry), 'NoSchedule');
  for (const [mode, into] of [
    [onNode.prefer, preferred],
    [onNode.must, required],
  ] as const) {
    for (const entry of mode) {
      const [key, value] = keyValue(entry);
      tolerate(key, value, 'NoSchedule');
      tolerate(key, value, 'PreferNoSchedule');
      add(into, key, value);
    }
  }
  const sorted = (m: Map<string, Set<string>>) => [...m.keys()].sort().map((key) => ({ key, values: [...m.get(key)!].sort() }));
  const preferredTerms: V1PreferredSchedulingTerm[] = sorted(preferred).map(({ key, values }) => ({ weight: 1, preference: { matchExpressions: [{ key, operator: 'In', values }] } }));
  const requiredExpressions: V1NodeSelectorRequirement[] = sorted(required).map(({ key, values }) => ({ key, operator: 'In', values }));
  const out: ReturnType<typeof placement> = {};
  if (tolerations.size > 0) out.tolerations = [...tolerations.keys()].sort().map((k) => tolerations.get(k)!);
  if (preferredTerms.length + requiredExpressions.length > 0) {
    out.affinity = {
      nodeAffinity: {
        ...(preferredTerms.length > 0 ? { preferredDuringSchedulingIgnoredDuringExecution: preferredTerms } : {}),
        ...(requiredExpressions.length > 0 ? { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: requiredExpressions }] } } : {}),
      },
    };
  }
  return out;
}

export function podLabels(ctx: AttemptContext, instance: string): Record<string, string> {
  return { [LABEL_INSTANCE]: instance, [LABEL_RUN]: ctx.runId, [LABEL_PLAN]: ctx.planId, [LABEL_ATTEMPT]: String(ctx.attempt), [LABEL_NETWORK]: String(ctx.network === true) };
}

export const inputDir = (idx: number) => `/knit/in${idx}`;
export const outputDir = (idx: number) => `/knit/out${idx}`;

/**
 * The Pod of one attempt: the agent's `fetch` init container fills an emptyDir per input, the
 * agent's `keep` sidecar holds an emptyDir per output and uploads it once `run` (the plan's
 * image) ends, and the shared process namespace lets `keep` stop `run` with knit's grace period.
 * Created gated (see START_GATE). Pure: the same attempt always gives the same Pod.
 */
/**
 * How long keep may take to fetch the inputs and come up before its postStart hook gives up (and
 * the kubelet restarts it). Large Data take long; a stalled transfer is cut by the agent itself.
 */
const KEEP_READY_SECONDS = 86_400;

export function podSpec(ctx: AttemptContext, opts: PodSpecOptions): V1Pod {
  const agentEnv: V1EnvVar[] = [
    { name: 'KNIT_AGENT_URL', value: opts.agent.url },
    { name: 'KNIT_AGENT_TOKEN', value: opts.agent.token },
    { name: 'KNIT_RUN', value: ctx.runId },
    { name: 'KNIT_ATTEMPT', value: String(ctx.attempt) },
  ];
  // The agent reads and writes files of whatever user the plan's image runs as, and signals its
  // processes: root with the default capabilities, not the run's restricted set.
  const agentContainer = (name: string, command: string, env: V1EnvVar[], mounts: V1Container['volumeMounts']): V1Container => ({
    name,
    image: opts.agent.image,
    imagePullPolicy: 'IfNotPresent',
    command: [...opts.agent.entrypoint, command],
    env: [...agentEnv, ...env],
    volumeMounts: mounts,
    securityContext: { runAsUser: 0, runAsGroup: 0 },
    // The agent writes its reason to /dev/termination-log; its log's tail when it could not.
    terminationMessagePolicy: 'FallbackToLogsOnError',
  });

  // One agent container, not an init container for the inputs and a sidecar for the outputs:
  // the kubelet starts a Pod's containers one sync (about a second) apart, so each container
  // in the sequence costs the run that much.
  const initContainers: V1Container[] = [];
  initContainers.push({
    ...agentContainer(
      CONTAINER.keep,
      'keep',
      [
        ...(ctx.inputs.length > 0 ? [{ name: 'KNIT_INPUTS', value: JSON.stringify(ctx.inputs.map((i) => ({ idx: i.idx, dir: inputDir(i.idx) }))) }] : []),
        { name: 'KNIT_OUTPUTS', value: JSON.stringify(ctx.outputs.map((o) => ({ idx: o.idx, dir: outputDir(o.idx) }))) },
      ],
      [...ctx.inputs.map((i) => ({ name: `in${i.idx}`, mountPath: inputDir(i.idx) })), ...ctx.outputs.map((o) => ({ name: `out${o.idx}`, mountPath: outputDir(o.idx) }))],
    ),
    // A native sidecar: the kubelet starts `run` once it is ready and stops it after `run` ends.
    restartPolicy: 'Always',
    // The kubelet starts the run container only once this hook returns: the inputs are in place
    // and keep can take the SIGTERM that follows the run's end. A startup probe would cost up to
    // a probe period more.
    lifecycle: { postStart: { exec: { command: [...opts.agent.entrypoint, 'ready', '--wait', String(KEEP_READY_SECONDS)] } } },
  });

  const resources = resourceRequirements(ctx.resources, opts.gpuResource);
  const run: V1Container = {
    name: CONTAINER.run,
    image: ctx.image,
    imagePullPolicy: 'IfNotPresent',
    ...(ctx.entrypoint ? { command: ctx.entrypoint } : {}),
    ...(ctx.args ? { args: ctx.args } : {}),
    // The before hooks' variables (AttemptContext.env); knit sets none of its own in this container.
    ...(ctx.env && Object.keys(ctx.env).length > 0 ? { env: Object.entries(ctx.env).map(([name, value]) => ({ name, value })) } : {}),
    volumeMounts: [
      ...ctx.inputs.map((i) => ({ name: `in${i.idx}`, mountPath: i.path, readOnly: true })),
      ...ctx.outputs.map((o) => ({ name: `out${o.idx}`, mountPath: o.path })),
    ],
    ...(resources ? { resources } : {}),
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], ...(opts.capAdd.length > 0 ? { add: opts.capAdd } : {}) } },
  };

  const annotations = contextAnnotations(ctx);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(opts.instance, ctx.runId, ctx.attempt),
      namespace: opts.namespace,
      labels: podLabels(ctx, opts.instance),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      restartPolicy: 'Never',
      schedulingGates: [{ name: START_GATE }],
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      // The run sees only its own Data: no Kubernetes API credentials unless the plan names a
      // service account, and no environment variables of the namespace's Services.
      automountServiceAccountToken: Boolean(ctx.serviceAccount),
      ...(ctx.serviceAccount ? { serviceAccountName: ctx.serviceAccount } : {}),
      enableServiceLinks: false,
      volumes: [...ctx.inputs.map((i) => ({ name: `in${i.idx}`, emptyDir: {} })), ...ctx.outputs.map((o) => ({ name: `out${o.idx}`, emptyDir: {} }))],
      initContainers,
      containers: [run],
      ...placement(ctx.onNode),
    },
  };
}

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why Kubernetes would refuse `key` as a label or annotation key (a qualified name), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `the prefix ${JSON.stringify(prefix)} must be a DNS subdomain (lowercase letters, digits, '-' and '.')`;
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name)) return `${JSON.stringify(name)} must be 1-63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit`;
  return undefined;
}

function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME_PART.test(value)) return `the value ${JSON.stringify(value)} must be at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit`;
  return undefined;
}

const NATIVE_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

/**
 * What the API server would refuse in this attempt's Pod, each naming the plan field: found
 * before anything is created, and said in the plan's terms rather than the Pod's.
 */
export function podProblems(ctx: AttemptContext): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(ctx.resources)) {
    // Checked when the plan was applied; a plan older than that check may still hold anything.
    if (!isQuantity(value)) {
      problems.push(`resources.${name}: must be a quantity such as 1, 0.5, 500m, 512Mi or 2Gi, got ${JSON.stringify(value)}`);
      continue;
    }
    if (GPU_RESOURCES.includes(name) || NATIVE_RESOURCES.has(name) || name.startsWith('hugepages-')) continue;
    if (!name.includes('/')) {
      problems.push(`resources.${name}: Kubernetes knows no resource ${JSON.stringify(name)}; use cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource name such as example.com/device`);
      continue;
    }
    const problem = qualifiedNameProblem(name);
    if (problem) problems.push(`resources.${name}: ${problem}`);
    else if (!/^\d+$/.test(value)) problems.push(`resources.${name}: an extended resource must be a whole number, got ${JSON.stringify(value)}`);
  }
  for (const mode of ['may', 'prefer', 'must'] as const) {
    for (const entry of ctx.onNode[mode]) {
      const [key, value] = keyValue(entry);
      const problem = qualifiedNameProblem(key) ?? labelValueProblem(value);
      if (problem) problems.push(`on_node.${mode} ${JSON.stringify(entry)}: not a node label: ${problem}`);
    }
  }
  for (const key of Object.keys(contextAnnotations(ctx))) {
    const problem = qualifiedNameProblem(key);
    if (problem) problems.push(`annotations ${JSON.stringify(key)}: not an annotation key: ${problem}`);
  }
  if (ctx.serviceAccount && (ctx.serviceAccount.length > 253 || !DNS_SUBDOMAIN.test(ctx.serviceAccount))) {
    problems.push(`service_account ${JSON.stringify(ctx.serviceAccount)}: a service account name is lowercase letters, digits, '-' and '.'`);
  }
  return problems;
}
