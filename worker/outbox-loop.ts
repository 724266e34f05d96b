// The hot loop every outbox worker runs: claim a batch, hand it to the processor,
// record each row's outcome. Housekeeping (reaping, retention) runs elsewhere.
import type { Sql } from '../shared/db/client';
import type { Logger } from '../shared/logger';
import { backoffDelayMs } from './backoff';
import { claimBatch, type ClaimOptions, type OutboxRow } from './sql/claim';
import { markPublished } from './sql/complete';
import { rescheduleFailed } from './sql/reschedule';
import { createWakeSignal } from './wake';

/** null = done; otherwise why it failed, and whether retrying is pointless. */
export type RowOutcome = null | { error: string; dead?: boolean };

export type ProcessBatch = (rows: OutboxRow[]) => Promise<RowOutcome[]>;

export interface OutboxLoopOptions extends ClaimOptions {
  sql: Sql;
  logger: Logger;
  process: ProcessBatch;
  pollIntervalMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Asked before each claim; false = the processor cannot work now (its bus is down): skip the round. */
  ready?: () => Promise<boolean>;
  /** Told about every settled row, for metrics. */
  onSettled?: (row: OutboxRow, outcome: 'published' | 'retry' | 'dead') => void;
  /** Told how long each claim query (empty ones too) and each batch's processing took, for metrics. */
  onTimed?: (phase: 'claim' | 'process', seconds: number) => void;
}

export interface OutboxLoop {
  /** Run a round now instead of waiting for the poll interval (NOTIFY arrived). */
  wake(): void;
  /** Finishes the batch in hand, then resolves. */
  stop(): Promise<void>;
}

export function startOutboxLoop(options: OutboxLoopOptions): OutboxLoop {
  const { sql, logger } = options;
  const signal = createWakeSignal();
  let stopping = false;
  // A batch processed but not yet recorded (the database went away in between). Its rows
  // are still ours; recording them first thing next round beats waiting out their locks,
  // which would hold up their rooms. Settling twice is harmless: the guards make it a no-op.
  let unsettled: { rows: OutboxRow[]; outcomes: RowOutcome[] } | null = null;

  const settle = async (rows: OutboxRow[], outcomes: RowOutcome[]) => {
    const published = rows.filter((_, i) => !outcomes[i]);
    await markPublished(sql, options.workerId, published.map((row) => row.id));
    for (const row of published) options.onSettled?.(row, 'published');
    for (const [i, row] of rows.entries()) {
      const outcome = outcomes[i];
      if (!outcome) continue;
      const delayMs = backoffDelayMs(row.attempts + 1, options.backoffBaseMs, options.backoffCapMs);
      const status = await rescheduleFailed(sql, options.workerId, { id: row.id, error: outcome.error, delayMs, dead: outcome.dead }, options.maxAttempts);
      logger.warn({ id: row.id, type: row.type, attempt: row.attempts + 1, status, error: outcome.error }, 'outbox row failed');
      options.onSettled?.(row, status === 'dead' ? 'dead' : 'retry');
    }
  };

  const round = async (): Promise<number> => {
    if (unsettled) {
      await settle(unsettled.rows, unsettled.outcomes);
      unsettled = null;
    }
    if (options.ready && !(await options.ready())) return 0;
    let started = performance.now();
    const rows = await claimBatch(sql, options);
    options.onTimed?.('claim', (performance.now() - started) / 1000);
    if (rows.length === 0) return 0;
    let outcomes: RowOutcome[];
    started = performance.now();
    try {
      outcomes = await options.process(rows);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      outcomes = rows.map(() => ({ error }));
    }
    options.onTimed?.('process', (performance.now() - started) / 1000);
    unsettled = { rows, outcomes };
    await settle(rows, outcomes);
    unsettled = null;
    return rows.length;
  };

  const run = async () => {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await round();
      } catch (err) {
        // Database gone, DNS not ready, connection refused: log and try again next round.
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'outbox round failed; will retry');
      }
      // Busy: go again at once (wake-ups are coalesced, so more rows may be waiting). Idle: sleep.
      if (!stopping && claimed === 0) await signal.sleep(unsettled ? Math.min(options.pollIntervalMs, 500) : options.pollIntervalMs);
    }
    if (unsettled) logger.warn({ ids: unsettled.rows.map((row) => row.id) }, 'stopping with a batch not recorded; its locks will expire and it will be retried');
  };

  const running = run();
  return {
    wake: () => signal.wake(),
    async stop() {
      stopping = true;
      signal.wake();
      await running;
    },
  };
}
