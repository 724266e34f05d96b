import type { Logger } from '../../shared/logger';

/** Runs `task` every `intervalMs`, never two at once; errors are logged, not thrown. */
export function startPeriodic(name: string, intervalMs: number, task: () => Promise<unknown>, logger: Logger): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .catch((err: unknown) => logger.warn({ task: name, err: err instanceof Error ? err.message : String(err) }, 'periodic task failed'))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
