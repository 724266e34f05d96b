// The hot loop every outbox worker runs: claim rows, hand them to the processor, record
// each row's outcome. Two shapes: a batch at a time (the chat worker publishes a batch in
// one go), or a row per slot (the document worker: a slow job holds one slot, and the free
// ones keep claiming). Housekeeping (reaping, retention) runs elsewhere.
import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import { backoffDelayMs } from './backoff';
import { claimBatch, type ClaimOptions, type OutboxRow } from './sql/claim';
import { markPublished } from './sql/complete';
import { rescheduleFailed } from './sql/reschedule';
import { createWakeSignal } from './wake';

/**
 * null = done; otherwise why it failed (stored with the row), whether retrying is pointless,
 * and the Error behind it when there is one (logged with its stack, cause and code).
 */
export type RowOutcome = null | { error: string; dead?: boolean; cause?: unknown };

export type ProcessBatch = (rows: OutboxRow[]) => Promise<RowOutcome[]>;

/** Rows processed one by one, up to `concurrency` at once, each settled as it ends. */
export interface ProcessEach {
  run(row: OutboxRow): Promise<RowOutcome>;
  concurrency: number;
}

export interface OutboxLoopOptions extends ClaimOptions {
  sql: Sql;
  logger: Logger;
  process: ProcessBatch | ProcessEach;
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
    await markPublished(
      sql,
      options.workerId,
      published.map((row) => row.id),
    );
    for (const row of published) options.onSettled?.(row, 'published');
    for (const [i, row] of rows.entries()) {
      const outcome = outcomes[i];
      if (!outcome) continue;
      const delayMs = backoffDelayMs(row.attempts + 1, options.backoffBaseMs, options.backoffCapMs);
      const status = await rescheduleFailed(sql, options.workerId, { id: row.id, error: outcome.error, delayMs, dead: outcome.dead }, options.maxAttempts);
      logger.warn({ id: row.id, type: row.type, attempt: row.attempts + 1, status, error: outcome.error, err: outcome.cause }, 'outbox row failed');
      options.onSettled?.(row, status === 'dead' ? 'dead' : 'retry');
    }
  };

  const claim = async (batchSize: number): Promise<OutboxRow[]> => {
    if (options.ready && !(await options.ready())) return [];
    const started = performance.now();
    const rows = await claimBatch(sql, { ...options, batchSize });
    options.onTimed?.('claim', (performance.now() - started) / 1000);
    return rows;
  };

  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      options.onTimed?.('process', (performance.now() - started) / 1000);
    }
  };

  /** The outcome of a row whose processor threw. */
  const failure = (err: unknown): RowOutcome => ({ error: err instanceof Error ? err.message : String(err), cause: err });

  const round = async (processBatch: ProcessBatch): Promise<number> => {
    if (unsettled) {
      await settle(unsettled.rows, unsettled.outcomes);
      unsettled = null;
    }
    const rows = await claim(options.batchSize);
    if (rows.length === 0) return 0;
    const outcomes = await timed(() => processBatch(rows)).catch((err: unknown) => rows.map(() => failure(err)));
    unsettled = { rows, outcomes };
    await settle(rows, outcomes);
    unsettled = null;
    return rows.length;
  };

  const logRoundFailed = (err: unknown) =>
    // Database gone, DNS not ready, connection refused: log and try again next round.
    logger.warn({ err }, 'outbox round failed; will retry');

  const runBatches = async (processBatch: ProcessBatch) => {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await round(processBatch);
      } catch (err) {
        logRoundFailed(err);
      }
      // Busy: go again at once (wake-ups are coalesced, so more rows may be waiting). Idle: sleep.
      if (!stopping && claimed === 0) await signal.sleep(unsettled ? Math.min(options.pollIntervalMs, 500) : options.pollIntervalMs);
    }
    if (unsettled)
      logger.warn({ ids: unsettled.rows.map((row) => row.id) }, 'stopping with a batch not recorded; its locks will expire and it will be retried');
  };

  const runSlots = async (each: ProcessEach) => {
    const inFlight = new Set<Promise<void>>();
    // Rows processed whose outcome could not be recorded yet (the database went away).
    const toRecord: Array<{ row: OutboxRow; outcome: RowOutcome }> = [];
    let recording = false;
    /** Records them in order, one recorder at a time (one already running takes what is added meanwhile). */
    const recordPending = async () => {
      if (recording) return;
      recording = true;
      try {
        while (toRecord.length) {
          const { row, outcome } = toRecord[0]!;
          await settle([row], [outcome]);
          toRecord.shift();
        }
      } finally {
        recording = false;
      }
    };
    const start = (row: OutboxRow) => {
      const job: Promise<void> = timed(() => each.run(row))
        .catch(failure)
        .then(async (outcome) => {
          toRecord.push({ row, outcome });
          await recordPending();
        })
        .catch(logRoundFailed)
        .finally(() => {
          inFlight.delete(job);
          signal.wake(); // a slot is free
        });
      inFlight.add(job);
    };
    while (!stopping) {
      const free = each.concurrency - inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          await recordPending();
          const rows = await claim(Math.min(free, options.batchSize));
          for (const row of rows) start(row);
          claimed = rows.length;
        } catch (err) {
          logRoundFailed(err);
        }
      }
      // Slots left and rows came: claim again at once. Otherwise wait for a free slot, a NOTIFY or the poll.
      if (!stopping && (claimed === 0 || inFlight.size >= each.concurrency))
        await signal.sleep(toRecord.length ? Math.min(options.pollIntervalMs, 500) : options.pollIntervalMs);
    }
    await Promise.all(inFlight);
    if (toRecord.length)
      logger.warn({ ids: toRecord.map((r) => r.row.id) }, 'stopping with rows not recorded; their locks will expire and they will be retried');
  };

  const process = options.process;
  const running = typeof process === 'function' ? runBatches(process) : runSlots(process);
  return {
    wake: () => signal.wake(),
    async stop() {
      stopping = true;
      signal.wake();
      await running;
    },
  };
}
