import type { Sql } from '../db/client';

/**
 * SQL condition "this outbox row is claimed (in_progress) and held by `owner`", for the
 * statements that settle rows picked by id (publish, delete, release, retry). Written so
 * that the planner cannot match it to the reaper's index (outbox_in_progress_idx, partial on
 * status = 'in_progress'): rows pass through that index by the thousand per second, its
 * dead entries pile up between vacuums, and a by-id statement that combined it with the
 * primary key read every one of them — most of PostgreSQL's CPU at 1,000 sends/s, and more
 * the longer it ran. Picked by id, the primary key finds the rows alone. A null owner holds
 * nothing.
 */
export const heldBy = (sql: Sql, owner: string | null) => sql`(status = 'in_progress') IS TRUE AND locked_by = ${owner}::text`;
