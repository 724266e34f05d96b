// What a process has started, stopped in reverse order: the last thing started (the
// gateway, a worker loop) drains first, while what it uses (the bus, the pools) is still up.
import type { Logger } from './logger';

export interface StopStack {
  /** Registers how to stop what was just started. */
  push(name: string, stop: () => unknown): void;
  /**
   * Stops everything pushed so far, last first. A failing stop is logged and does not skip
   * the rest; the first failure is thrown at the end. A second call waits for the first.
   */
  stopAll(): Promise<void>;
}

export function createStopStack(logger: Logger): StopStack {
  const stops: Array<{ name: string; stop: () => unknown }> = [];
  let stopping: Promise<void> | null = null;

  async function stopInReverse(): Promise<void> {
    let failed: unknown = null;
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        failed ??= err;
        logger.error({ err }, `stopping ${name} failed`);
      }
    }
    if (failed) throw failed;
  }

  return {
    push(name, stop) {
      stops.push({ name, stop });
    },
    stopAll() {
      stopping ??= stopInReverse();
      return stopping;
    },
  };
}
