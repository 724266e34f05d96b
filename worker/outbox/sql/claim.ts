import type { Sql } from '../../../shared/db/client';
import { typeMatches, type TypeFilter } from './type-filter';

export interface OutboxRow {
  id: number;
  type: string;
  room_id: string | null;
  payload: unknown;
  attempts: number;
  created_at: Date;
}

export interface ClaimOptions extends TypeFilter {
  workerId: string;
  batchSize: number;
  lockSeconds: number;
  /**
   * Called inside the claim transaction before its first statement, so after its `now()`
   * is fixed (tests: a commit that races the claim, such as a reap).
   */
  onBegun?: () => Promise<void>;
}

/** Namespace of the per-room advisory locks taken while claiming (first key of the pair). */
export const ROOM_CLAIM_LOCK = 7_411_204;

/**
 * Claims up to `batchSize` due pending rows, oldest id first, and marks them in_progress
 * under this worker's name until `lockSeconds` from now. Returned in id order.
 *
 * A room's rows go to one worker at a time, in id order: a row waits while an earlier row
 * of its room is in flight or has a time to wait for (a retry's backoff, or a producer's
 * schedule). Rows of rooms held back like that are passed over, never waited for, so a
 * stuck room (a worker that died holding its batch) does not hold up the other rooms.
 * Within a room, ids follow commit order: producers write a room's rows under its row
 * lock (see sql/0005_room_seq.sql). Gateways deliver by seq whatever the order, so this
 * order is for speed (no gap to read back), not for correctness.
 *
 * Two statements in one transaction: the first picks the rooms and takes their advisory
 * locks (pg_try_advisory_xact_lock: a room another worker is claiming is skipped), so that
 * the second's snapshot, taken after, sees every earlier claim of those rooms committed.
 * Both compare times with `now()`, the claim transaction's start, and fresh rows are due
 * from '-infinity': no row can look "not yet due" because of the clock of the
 * transaction that wrote it.
 *
 * The rooms are picked from the first 2 × batchSize due rows (the candidates), in the order
 * of their first row there, until batchSize rooms are locked: two workers claiming at the
 * same moment see the same first rows, and the one whose locks come second takes the rooms
 * after them instead of none (with the first rows' rooms only, it claimed nothing and
 * slept). The second statement claims up to the candidates' last id. If it finds nothing
 * (another worker's claim of those rooms committed between the two), both run again.
 */
export async function claimBatch(sql: Sql, options: ClaimOptions): Promise<OutboxRow[]> {
  const typeFilter = typeMatches(sql, options);
  // Uses outbox_room_blockers_idx, which holds exactly the rows that can block (the
  // condition repeats its predicate, literally, so the planner can use it). OFFSET 0 keeps
  // it a lookup per row by room: as an anti-join the planner (which takes the pending rows
  // for few) read the whole index for every candidate row — every row other workers hold,
  // so two workers claimed 10–20× slower than one.
  const heldBack = sql`EXISTS (
    SELECT 1 FROM outbox earlier
    WHERE earlier.room_id = o.room_id AND earlier.id < o.id
      AND ((earlier.status = 'in_progress' AND earlier.locked_by NOT LIKE 'gateway:%')
           OR (earlier.status = 'pending' AND earlier.next_attempt_at <> '-infinity'))
      AND (earlier.status = 'in_progress' OR earlier.next_attempt_at > now())
    OFFSET 0
  )`;
  const rows = await sql.begin(async (tx) => {
    if (options.onBegun) await options.onBegun();
    for (let attempt = 1; ; attempt++) {
      // The lock is taken above the sorted candidate rooms (a volatile condition is never
      // pushed below a LIMIT), so it is tried room by room in that order, and only until enough are locked.
      const [picked] = await tx<{ rooms: string[]; roomless: boolean; last_id: number | null }[]>`
        WITH candidates AS (
          SELECT o.id, o.room_id FROM outbox o
          WHERE o.status = 'pending' AND o.next_attempt_at <= now() AND ${typeFilter}
            AND NOT ${heldBack}
          ORDER BY o.id
          LIMIT ${options.batchSize * 2}
        ), locked AS (
          SELECT room_id FROM (
            SELECT room_id, min(id) AS first_id FROM candidates WHERE room_id IS NOT NULL GROUP BY room_id ORDER BY first_id
          ) rooms
          WHERE pg_try_advisory_xact_lock(${ROOM_CLAIM_LOCK}, hashtext(room_id::text))
          LIMIT ${options.batchSize}
        )
        SELECT coalesce((SELECT array_agg(room_id) FROM locked), '{}') AS rooms,
               EXISTS (SELECT 1 FROM candidates WHERE room_id IS NULL) AS roomless,
               (SELECT max(id) FROM candidates) AS last_id`;
      const { rooms, roomless, last_id: lastId } = picked!;
      // Nothing this worker may take now: no scan of the pending rows for nothing.
      if (lastId === null || (rooms.length === 0 && !roomless)) return [] as OutboxRow[];
      // Within the candidates' ids: a room's rows after them go in a later round, and a
      // claim that finds nothing has not read every pending row to find it.
      const claimed = await tx<OutboxRow[]>`
        WITH due AS (
          SELECT o.id FROM outbox o
          WHERE o.status = 'pending' AND o.next_attempt_at <= now() AND o.id <= ${lastId} AND ${typeFilter}
            AND (o.room_id IS NULL OR (o.room_id = ANY(${rooms}::uuid[]) AND NOT ${heldBack}))
          ORDER BY o.id
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
      // Empty: another worker claimed these rooms after the candidates were read, before
      // their locks were taken. Pick again: this statement's snapshot sees that claim.
      if (claimed.length > 0 || attempt === 3) return claimed;
    }
  });
  return [...rows].sort((a, b) => a.id - b.id);
}
