/**
 * Runs `sweep` every `intervalMs` until stopped: leftovers of an interrupted upload or attempt
 * would otherwise stay until the next restart. One sweep at a time; a failed sweep is logged
 * and the next one tries again.
 */
export function startPeriodicSweep(intervalMs: number, sweep: () => Promise<void>, onError: (err: unknown) => void): { stop(): Promise<void> } {
  if (intervalMs <= 0) return { stop: async () => {} };
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = sweep()
      .catch(onError)
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
