// Producers add work for the outbox workers here, inside their own transaction: the row
// becomes visible (and wakes the workers) only if that transaction commits.
import type { Queryable } from '../db/queryable';

export interface OutboxJob {
  type: string;
  /**
   * Rows with the same key are handed out one at a time, in id order (stored in
   * `outbox.room_id`): the room of a chat event, the document of a document job.
   */
  orderingKey?: string | null;
  payload: Record<string, unknown>;
  /** While a row with this key exists, enqueueing the key again adds nothing. */
  dedupeKey?: string | null;
}

/** Returns the new row's id, or null when a row with the same dedupe key already exists. */
export async function enqueueOutbox(sql: Queryable, job: OutboxJob): Promise<number | null> {
  const [row] = await sql<{ id: number }[]>`
    INSERT INTO outbox (type, room_id, payload, dedupe_key)
    VALUES (${job.type}, ${job.orderingKey ?? null}, ${sql.json(job.payload as never)}, ${job.dedupeKey ?? null})
    ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
    RETURNING id`;
  return row?.id ?? null;
}
