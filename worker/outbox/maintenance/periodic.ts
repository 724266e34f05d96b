import type { Sql } from '../../../shared/db/client';
import type { Logger } from '../../../shared/logger';
import { releaseLease, takeLease } from '../sql/lease';

/**
 * Runs `task` every `intervalMs` (the first time after `firstDelayMs`), never two at once;
 * errors are logged, not thrown.
 */
export function startPeriodic(name: string, intervalMs: number, task: () => Promise<unknown>, logger: Logger, firstDelayMs = intervalMs): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout;
  const schedule = (ms: number) => {
    timer = setTimeout(runOnce, ms);
    timer.unref();
  };
  const runOnce = () => {
    running = task()
      .catch((err: unknown) => logger.warn({ task: name, err }, 'periodic task failed'))
      .finally(() => {
        running = null;
        if (!stopped) schedule(intervalMs);
      });
  };
  schedule(firstDelayMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

/** Who may run a maintenance task: the worker holding its lease (see worker/sql/lease.ts). */
export interface Leadership {
  sql: Sql;
  /** This worker's name (WORKER_ID). */
  holder: string;
}

/** A lease outlives this many intervals, so a leader that misses a run or two keeps the task. */
const LEASE_INTERVALS = 3;

/**
 * Like startPeriodic, for maintenance that one worker does for all: each run takes (or
 * renews) the task's lease first and runs only with it; a leader that stops hanging on to
 * it (crashed, hung) loses it after three intervals to whichever worker runs next. The first
 * run comes at a random point of the first interval, so that workers started together do
 * not all try at once. Stopping gives the lease up.
 */
export function startMaintenance(name: string, intervalMs: number, leadership: Leadership, task: () => Promise<unknown>, logger: Logger): () => Promise<void> {
  const ttlMs = LEASE_INTERVALS * intervalMs;
  let leading = false;
  const run = async () => {
    const leader = await takeLease(leadership.sql, name, leadership.holder, ttlMs);
    if (leader !== leading)
      logger.info({ task: name, holder: leadership.holder }, leader ? 'maintenance task taken over' : 'maintenance task left to another worker');
    leading = leader;
    if (leader) await task();
  };
  const stop = startPeriodic(name, intervalMs, run, logger, Math.floor(Math.random() * intervalMs));
  return async () => {
    await stop();
    if (leading) await releaseLease(leadership.sql, name, leadership.holder).catch(() => {});
  };
}
