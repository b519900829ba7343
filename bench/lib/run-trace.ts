/**
 * Where one run's time goes, read from its workflow's Temporal history: each workflow task
 * (scheduled → completed), each activity (queued: scheduled → started; working: started →
 * completed) and each local activity (a marker in the task that ran it), as offsets from the
 * workflow's start. Round trips are what separate the steps; the history shows them all.
 */
import type { Client } from '@temporalio/client';
import { runWorkflowId } from '../../workflows/definitions.js';

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

export interface RunTrace {
  /** Seconds from the workflow's start to its completion. */
  totalS: number;
  workflowTasks: number;
  /** Seconds spent between a workflow task's scheduling and its completion, summed. */
  workflowTaskS: number;
  /** Each workflow task: queued (scheduled → started by a worker), working (started → completed, its local activities included). */
  tasks: Array<{ atS: number; queuedS: number; workS: number; localActivities: string[] }>;
  activities: Array<{ name: string; atS: number; queuedS: number; workS: number }>;
  localActivities: string[];
}

const seconds = (e: HistoryEvent): number => {
  const t = e.eventTime;
  return t ? Number(t.seconds ?? 0) + (t.nanos ?? 0) / 1e9 : 0;
};

/** The activity type a local activity's marker names (its details hold it as JSON). */
function localActivityName(e: HistoryEvent): string {
  const data = e.markerRecordedEventAttributes?.details?.['data']?.payloads?.[0]?.data;
  if (!data) return '?';
  try {
    const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string; activityType?: string };
    return parsed.activity_type ?? parsed.activityType ?? '?';
  } catch {
    return '?';
  }
}

export async function traceRun(client: Client, runId: string): Promise<RunTrace> {
  const history = await client.workflow.getHandle(runWorkflowId(runId)).fetchHistory();
  const events = history.events ?? [];
  const start = seconds(events[0]!);
  const byId = new Map<number, HistoryEvent>();
  for (const e of events) byId.set(Number(e.eventId), e);
  const trace: RunTrace = { totalS: seconds(events[events.length - 1]!) - start, workflowTasks: 0, workflowTaskS: 0, tasks: [], activities: [], localActivities: [] };
  let taskScheduled: number | undefined;
  let taskStarted: number | undefined;
  for (const e of events) {
    if (e.workflowTaskScheduledEventAttributes) taskScheduled = seconds(e);
    if (e.workflowTaskStartedEventAttributes) taskStarted = seconds(e);
    if (e.workflowTaskCompletedEventAttributes && taskScheduled !== undefined) {
      trace.workflowTasks++;
      trace.workflowTaskS += seconds(e) - taskScheduled;
      const started = taskStarted ?? taskScheduled;
      trace.tasks.push({ atS: taskScheduled - start, queuedS: started - taskScheduled, workS: seconds(e) - started, localActivities: [] });
      taskScheduled = undefined;
      taskStarted = undefined;
    }
    // Other markers (a patch's, core_patch) are not local activities. A local activity's marker
    // follows the completion of the task that ran it.
    if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      const name = localActivityName(e);
      trace.localActivities.push(name);
      trace.tasks[trace.tasks.length - 1]?.localActivities.push(name);
    }
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done) {
      const scheduled = byId.get(Number(done.scheduledEventId));
      const started = byId.get(Number(done.startedEventId));
      if (!scheduled || !started) continue;
      trace.activities.push({
        name: scheduled.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
        atS: seconds(scheduled) - start,
        queuedS: seconds(started) - seconds(scheduled),
        workS: seconds(e) - seconds(started),
      });
    }
  }
  return trace;
}

/** The trace as lines for the bench's output. */
export function formatRunTrace(t: RunTrace): string {
  const ms = (s: number) => `${Math.round(s * 1000)} ms`;
  const lines = [
    `  one run's workflow: ${ms(t.totalS)} from start to end; ${t.workflowTasks} workflow tasks, ${ms(t.workflowTaskS)} in them; ` +
      `${t.activities.length} activities, ${t.localActivities.length} local (${t.localActivities.join(', ')})`,
  ];
  for (const k of t.tasks) lines.push(`    at ${ms(k.atS).padStart(7)}  workflow task       queued ${ms(k.queuedS).padStart(7)}, working ${ms(k.workS).padStart(7)}${k.localActivities.length ? ` (${k.localActivities.join(', ')})` : ''}`);
  for (const a of t.activities) lines.push(`    at ${ms(a.atS).padStart(7)}  ${a.name.padEnd(18)} queued ${ms(a.queuedS).padStart(7)}, working ${ms(a.workS).padStart(7)}`);
  return lines.join('\n');
}
