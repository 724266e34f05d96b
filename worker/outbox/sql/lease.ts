import type { Sql } from '../../../shared/db/client';

/**
 * Takes or renews the lease of a maintenance task for `holder`, for `ttlMs`: true if
 * `holder` has it now (it had it, or the last holder's ran out). One statement: safe
 * through PgBouncer in transaction mode, unlike a session advisory lock.
 */
export async function takeLease(sql: Sql, task: string, holder: string, ttlMs: number): Promise<boolean> {
  const rows = await sql`
    INSERT INTO arcyou_maintenance_leases AS lease (task, holder, expires_at)
    VALUES (${task}, ${holder}, now() + make_interval(secs => ${ttlMs / 1000}))
    ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE lease.holder = excluded.holder OR lease.expires_at < now()
    RETURNING 1`;
  return rows.length === 1;
}

/** Gives the lease up (a worker stopping), so that another takes the task over at its next run. */
export async function releaseLease(sql: Sql, task: string, holder: string): Promise<void> {
  await sql`DELETE FROM arcyou_maintenance_leases WHERE task = ${task} AND holder = ${holder}`;
}
