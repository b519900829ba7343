import { z } from 'zod';
import { RunDetail } from './model.js';

/**
 * What GET /api/runs/:id/events pushes, as Server-Sent Events: `run` at once and after each change
 * of the run; `log` the log as it comes (with log=true); `end` once the run has ended and its log
 * is out (the stream closes after it); `error` when the server could not go on (follow again).
 */
export const RunEvent = z.discriminatedUnion('event', [
  z.object({ event: z.literal('run'), data: RunDetail }),
  z.object({ event: z.literal('log'), data: z.object({ text: z.string() }) }),
  z.object({ event: z.literal('end'), data: RunDetail }),
  z.object({ event: z.literal('error'), data: z.object({ message: z.string() }) }),
]);
export type RunEvent = z.infer<typeof RunEvent>;
