import type { Sql } from '../../shared/db/client';

export interface OutboxRow {
  id: number;
  type: string;
  room_id: string | null;
  payload: unknown;
  attempts: number;
  created_at: Date;
}

export interface ClaimOptions {
  workerId: string;
  batchSize: number;
  lockSeconds: number;
  /** Only rows whose type starts with this (e.g. `document.`). */
  includeTypePrefix?: string;
  /** Only rows whose type does not start with this. */
  excludeTypePrefix?: string;
}

/**
 * Claims up to `batchSize` due pending rows, oldest id first, and marks them
 * in_progress under this worker's name until `lockSeconds` from now. Rows another
 * worker holds are skipped, never waited for. Returned in id order.
 */
export async function claimBatch(sql: Sql, options: ClaimOptions): Promise<OutboxRow[]> {
  const include = options.includeTypePrefix ?? null;
  const exclude = options.excludeTypePrefix ?? null;
  const rows = await sql<OutboxRow[]>`
    WITH due AS (
      SELECT id FROM outbox
      WHERE status = 'pending' AND next_attempt_at <= now()
        AND (${include}::text IS NULL OR left(type, length(${include}::text)) = ${include}::text)
        AND (${exclude}::text IS NULL OR left(type, length(${exclude}::text)) <> ${exclude}::text)
      ORDER BY id
      LIMIT ${options.batchSize}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE outbox o
    SET status = 'in_progress',
        locked_by = ${options.workerId},
        locked_until = now() + make_interval(secs => ${options.lockSeconds})
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.type, o.room_id, o.payload, o.attempts, o.created_at`;
  return rows.sort((a, b) => a.id - b.id);
}
