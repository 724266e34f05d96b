import type { Sql } from '../../../shared/db/client';
import { heldBy } from '../../../shared/outbox/held-by';

export interface Failure {
  id: number;
  error: string;
  /** Delay before the next attempt; ignored when the row goes dead. */
  delayMs: number;
  /** Give up now, whatever the attempt count (e.g. a job the worker cannot process). */
  dead?: boolean;
}

/**
 * Records a failed attempt: attempts + 1 and the error kept. The row goes back to
 * pending after `delayMs`, or to dead once it has used `maxAttempts` attempts.
 */
export async function rescheduleFailed(sql: Sql, workerId: string, failure: Failure, maxAttempts: number): Promise<'pending' | 'dead' | null> {
  const [row] = await sql<{ status: 'pending' | 'dead' }[]>`
    UPDATE outbox
    SET attempts = attempts + 1,
        status = CASE WHEN ${failure.dead ?? false}::boolean OR attempts + 1 >= ${maxAttempts} THEN 'dead' ELSE 'pending' END::outbox_status,
        next_attempt_at = now() + make_interval(secs => ${failure.delayMs / 1000}),
        error = ${failure.error.slice(0, 2000)},
        locked_by = NULL,
        locked_until = NULL
    WHERE id = ${failure.id} AND ${heldBy(sql, workerId)}
    RETURNING status`;
  return row?.status ?? null;
}
