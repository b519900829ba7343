import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { containerState, judge, missingUploadProblem, OOM_NOTE } from '../../executor/kubernetes/pod-status.js';

// Pod states the dev cluster cannot be brought into on demand (an eviction, a crash-looping
// sidecar), as the API server reports them, judged by the pure function the executor uses.
const pod = (status: V1Pod['status'], spec: Partial<NonNullable<V1Pod['spec']>> = {}, metadata: V1Pod['metadata'] = {}): V1Pod => ({
  metadata,
  spec: { containers: [{ name: 'run' }], nodeName: 'node-1', ...spec },
  status,
});

test('an evicted Pod ends without an exit code, whatever its killed container said', (t) => {
  const evicted = pod({
    phase: 'Failed',
    reason: 'Evicted',
    message: 'The node was low on resource: memory.',
    containerStatuses: [{ name: 'run', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason: 'Error' } } }],
  });
  t.deepEqual(judge(evicted, 'x', 'agent'), { kind: 'ended', exitCode: null, note: 'the Pod was evicted from node node-1: The node was low on resource: memory.' });
  t.deepEqual(containerState(evicted), { phase: 'exited', exitCode: null });
});

test('OOM, an outside deletion and a start error are noted with the exit code', (t) => {
  const term = (reason: string, message?: string) => [{ name: 'run', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason, ...(message ? { message } : {}) } } }];
  t.deepEqual(judge(pod({ phase: 'Running', containerStatuses: term('OOMKilled') }), 'x', 'a'), { kind: 'ended', exitCode: 137, note: OOM_NOTE });
  t.deepEqual(judge(pod({ phase: 'Running', containerStatuses: term('Completed') }), 'x', 'a'), { kind: 'ended', exitCode: 137 });
  t.regex(String((judge(pod({ phase: 'Running', containerStatuses: term('Error') }, {}, { deletionTimestamp: new Date() }), 'x', 'a') as { note?: string }).note), /deleted while the run was running/);
  t.regex(String((judge(pod({ phase: 'Failed', containerStatuses: term('StartError', 'exec: "nope": not found') }), 'x', 'a') as { note?: string }).note), /StartError: exec: "nope"/);
});

test('a missing agent image and a crash-looping sidecar are refusals naming the agent', (t) => {
  const agentMissing = pod({
    phase: 'Pending',
    initContainerStatuses: [{ name: 'keep', image: 'agent', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImageNeverPull', message: 'not present' } } }],
  });
  t.like(judge(agentMissing, 'x', 'localhost/knit-agent:1'), { kind: 'refused', reason: 'AgentUnavailable' });
  const looping = pod({
    phase: 'Pending',
    initContainerStatuses: [
      { name: 'keep', image: 'agent', imageID: '', ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, message: 'KNIT_OUTPUTS: not JSON' } } },
    ],
    containerStatuses: [{ name: 'run', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
  });
  const v = judge(looping, 'x', 'a');
  t.like(v, { kind: 'refused', reason: 'AgentFailed' });
  t.regex((v as { message: string }).message, /KNIT_OUTPUTS: not JSON/);
  // keep fetches the inputs first: its failure then is the inputs', at the first failure already.
  const fetchFailed = pod({
    phase: 'Pending',
    initContainerStatuses: [{ name: 'keep', image: 'agent', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, message: 'keep: input 0: digest mismatch' } } }],
    containerStatuses: [{ name: 'run', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
  });
  const f = judge(fetchFailed, 'x', 'a');
  t.like(f, { kind: 'refused', reason: 'InputsUnavailable' });
  t.regex((f as { message: string }).message, /keep: input 0: digest mismatch/);
});

test('a gated Pod is created, an ungated pending one running, one that failed before its run exited', (t) => {
  t.deepEqual(containerState(undefined), { phase: 'absent' });
  t.deepEqual(containerState(pod({ phase: 'Pending' }, { schedulingGates: [{ name: 'knit/start' }] })), { phase: 'created' });
  t.deepEqual(containerState(pod({ phase: 'Pending' })), { phase: 'running' });
  t.deepEqual(containerState(pod({ phase: 'Failed' })), { phase: 'exited', exitCode: null });
  t.deepEqual(judge(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' }] }), 'x', 'a'), {
    kind: 'unschedulable',
    message: '0/1 nodes are available',
  });
});

test('an output not uploaded is a loss only when the run container started: a stop while the Pod started deletes it', (t) => {
  const keepKilled = { name: 'keep', image: 'agent', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason: 'Error', message: 'keep: SIGTERM: uploading outputs' } } };
  const runWith = (state: object) => [{ name: 'run', image: 'x', imageID: '', ready: false, restartCount: 0, state }];
  // Deleted while keep was up and `run` still waited to start: nothing could have written the output.
  t.is(missingUploadProblem(pod({ phase: 'Failed', initContainerStatuses: [keepKilled], containerStatuses: runWith({ waiting: { reason: 'PodInitializing' } }) })), undefined);
  // A terminated status the kubelet wrote for a container it never started has no startedAt.
  t.is(missingUploadProblem(pod({ phase: 'Failed', initContainerStatuses: [keepKilled], containerStatuses: runWith({ terminated: { exitCode: 137, reason: 'ContainerStatusUnknown' } }) })), undefined);
  t.is(missingUploadProblem(undefined), undefined);
  t.is(missingUploadProblem(pod({ phase: 'Pending', containerStatuses: runWith({ waiting: { reason: 'PodInitializing' } }) })), undefined);
  // `run` ran: whatever it wrote is gone, and that fails the run, saying what the sidecar said.
  const lost = missingUploadProblem(pod({ phase: 'Failed', initContainerStatuses: [keepKilled], containerStatuses: runWith({ terminated: { exitCode: 0, reason: 'Completed', startedAt: new Date() } }) }));
  t.regex(String(lost), /sidecar: it ended with exit code 137 \(Error\): keep: SIGTERM: uploading outputs/);
  t.truthy(missingUploadProblem(pod({ phase: 'Running', initContainerStatuses: [keepKilled], containerStatuses: runWith({ running: { startedAt: new Date() } }) })));
});
