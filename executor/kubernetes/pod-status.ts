import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { ContainerState } from '../executor.js';
import { CONTAINER, START_GATE } from './pod-spec.js';

/** Waiting reasons that no retry of the kubelet will cure: the image is not there and cannot be pulled. */
export const IMAGE_UNAVAILABLE = new Set(['ErrImageNeverPull', 'ErrImagePull', 'ImagePullBackOff', 'InvalidImageName']);

export const OOM_NOTE = 'the container ran out of memory (OOM killed); raise resources.memory';

function status(pod: V1Pod, name: string): V1ContainerStatus | undefined {
  return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((s) => s.name === name);
}

export function runStatus(pod: V1Pod): V1ContainerStatus | undefined {
  return status(pod, CONTAINER.run);
}

export function keepStatus(pod: V1Pod): V1ContainerStatus | undefined {
  return status(pod, CONTAINER.keep);
}

export function isGated(pod: V1Pod): boolean {
  return (pod.spec?.schedulingGates ?? []).some((g) => g.name === START_GATE);
}

export function podEnded(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** The port's view of the Pod: created while gated, exited once `run` ended (or the Pod did without it). */
export function containerState(pod: V1Pod | undefined): ContainerState {
  if (!pod) return { phase: 'absent' };
  // As wait() has it: the kubelet's kill of an evicted Pod is not the run's exit code.
  if (pod.status?.phase === 'Failed' && pod.status.reason === 'Evicted') return { phase: 'exited', exitCode: null };
  const run = runStatus(pod);
  if (run?.state?.terminated) return { phase: 'exited', exitCode: run.state.terminated.exitCode };
  if (podEnded(pod)) return { phase: 'exited', exitCode: null };
  if (isGated(pod)) return { phase: 'created' };
  return { phase: 'running' };
}

/**
 * Why an output the sidecar did not upload is a loss, or undefined when nothing could have written
 * it: no Pod, a sidecar that never ran, or a `run` container that never started (a stop that came
 * while the Pod was starting deletes it, and the kubelet may then kill the sidecar mid-upload of
 * the folders nobody wrote to). A `run` that started and ended leaves a `startedAt`.
 */
export function missingUploadProblem(pod: V1Pod | undefined): string | undefined {
  if (!pod) return undefined;
  const keep = keepStatus(pod);
  const keepRan = Boolean(keep?.state?.running || keep?.state?.terminated || keep?.lastState?.terminated);
  const run = runStatus(pod);
  const runStarted = Boolean(run?.state?.running || run?.state?.terminated?.startedAt || run?.lastState?.terminated?.startedAt);
  if (!keepRan || !runStarted) return undefined;
  return `knit's agent sidecar: ${describeContainer(keep)}`;
}

/** What a container last said about itself: its termination message, else its state's reason. */
export function describeContainer(s: V1ContainerStatus | undefined): string {
  if (!s) return 'it never started';
  const t = s.state?.terminated ?? s.lastState?.terminated;
  if (t) {
    const said = t.message?.trim();
    return `it ended with exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${said ? `: ${said}` : ''}`;
  }
  if (s.state?.waiting) return `it is waiting (${s.state.waiting.reason ?? 'no reason given'}${s.state.waiting.message ? `: ${s.state.waiting.message}` : ''})`;
  if (s.state?.running) return 'it is still running';
  return 'its state is unknown';
}

export type Verdict =
  | { kind: 'pending' }
  | { kind: 'ended'; exitCode: number | null; note?: string }
  | { kind: 'refused'; reason: string; message: string }
  | { kind: 'unschedulable'; message: string };

/**
 * Where a started Pod stands, judged from one read of it: still on its way, ended (with the
 * run's exit code and why it ended abnormally), or refused in a way no waiting will change.
 * `unschedulable` is for the caller to time: a scheduler may find room later.
 */
export function judge(pod: V1Pod, image: string, agentImage: string): Verdict {
  const node = pod.spec?.nodeName ?? 'unknown';
  // An evicted Pod's containers were killed by the kubelet: their exit code is not the run's.
  if (pod.status?.phase === 'Failed' && pod.status.reason === 'Evicted') {
    return { kind: 'ended', exitCode: null, note: `the Pod was evicted from node ${node}${pod.status.message ? `: ${pod.status.message}` : ''}` };
  }
  const run = runStatus(pod);
  const terminated = run?.state?.terminated;
  if (terminated) {
    if (terminated.reason === 'OOMKilled') return { kind: 'ended', exitCode: terminated.exitCode, note: OOM_NOTE };
    // Completed and Error are the ordinary ends; anything else (StartError, ContainerCannotRun) is said.
    if (terminated.reason && terminated.reason !== 'Completed' && terminated.reason !== 'Error') {
      return { kind: 'ended', exitCode: terminated.exitCode, note: `the container ended with reason ${terminated.reason}${terminated.message ? `: ${terminated.message.trim()}` : ''}` };
    }
    // Deleted by someone else while it ran: the kubelet stopped the container, the run did not end on its own.
    if (pod.metadata?.deletionTimestamp) return { kind: 'ended', exitCode: terminated.exitCode, note: 'the Pod was deleted while the run was running (outside knit); its container was stopped' };
    return { kind: 'ended', exitCode: terminated.exitCode };
  }
  const waiting = run?.state?.waiting;
  if (waiting?.reason && IMAGE_UNAVAILABLE.has(waiting.reason)) {
    return {
      kind: 'refused',
      reason: 'ImageUnavailable',
      message: `image ${image} could not be pulled on node ${node}: ${waiting.message ?? waiting.reason}; load it into the cluster's nodes (or push it to a registry they can pull from)`,
    };
  }
  if (waiting?.reason === 'CreateContainerConfigError' || waiting?.reason === 'CreateContainerError') {
    return { kind: 'refused', reason: 'ContainerInvalid', message: `the container could not be created on node ${node}: ${waiting.message ?? waiting.reason}` };
  }

  const keep = keepStatus(pod);
  const w = keep?.state?.waiting;
  if (w?.reason && IMAGE_UNAVAILABLE.has(w.reason)) {
    return { kind: 'refused', reason: 'AgentUnavailable', message: `knit's agent image ${agentImage} could not be pulled on node ${node}: ${w.message ?? w.reason}; import it into the cluster (scripts/build-agent-image.sh)` };
  }
  // keep fetches the inputs before the run starts; its failure then is final (the agent retries
  // what can be retried itself), though the kubelet would restart it.
  const failed = [keep?.state?.terminated, keep?.lastState?.terminated].find((t) => t !== undefined && t.exitCode !== 0);
  if (failed && !run?.state?.running) {
    const said = failed.message?.trim() ?? '';
    if (/^keep: input /.test(said)) return { kind: 'refused', reason: 'InputsUnavailable', message: `the inputs could not be fetched into the Pod: ${describeContainer({ ...keep!, state: { terminated: failed } })}` };
    return { kind: 'refused', reason: 'AgentFailed', message: `knit's agent sidecar (keep) failed before the run could start: ${describeContainer({ ...keep!, state: { terminated: failed } })}` };
  }

  if (pod.status?.phase === 'Failed') {
    return { kind: 'ended', exitCode: null, note: `the Pod failed${pod.status.reason ? ` (${pod.status.reason})` : ''}${pod.status.message ? `: ${pod.status.message}` : ''}` };
  }
  if (pod.status?.phase === 'Succeeded') return { kind: 'ended', exitCode: null, note: 'the Pod ended without a record of its run container' };

  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') return { kind: 'unschedulable', message: scheduled.message ?? 'no node fits it' };
  return { kind: 'pending' };
}
