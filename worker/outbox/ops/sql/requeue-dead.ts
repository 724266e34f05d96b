import type { Sql } from '../../../../shared/db/client';
import { OUTBOX_CHANNEL } from '../../../../shared/outbox/notify-channel';
import type { RequeueFilter } from '../outbox-args';

/**
 * Puts dead rows matching every given filter back to pending, due now, with attempts
 * reset (a full new set of tries). The last error stays on the row until it succeeds or
 * fails again. Sleeping workers are woken. Returns the rows requeued.
 */
export async function requeueDead(sql: Sql, filter: RequeueFilter): Promise<{ id: number; type: string }[]> {
  const rows = await sql<{ id: number; type: string }[]>`
    WITH requeued AS (
      UPDATE outbox
      SET status = 'pending', attempts = 0, next_attempt_at = '-infinity', locked_by = NULL, locked_until = NULL
      WHERE status = 'dead'
        AND (${filter.type}::text IS NULL OR type = ${filter.type}::text)
        AND (${filter.ids}::bigint[] IS NULL OR id = ANY(${filter.ids}::bigint[]))
        AND (${filter.olderThanMs}::float8 IS NULL OR created_at < now() - make_interval(secs => ${filter.olderThanMs}::float8 / 1000))
      RETURNING id, type
    )
    SELECT id, type, pg_notify(${OUTBOX_CHANNEL}, '')::text AS notified FROM requeued ORDER BY id`;
  return rows.map(({ id, type }) => ({ id, type }));
}
