import type { Queryable } from '../../../shared/db/queryable';

/**
 * Records that this job's version of the post is being stored, and locks the post's row
 * until the transaction ends. False, and nothing changed, when a job enqueued later has
 * stored its version already. Jobs without enqueued_at always go ahead (last to commit wins).
 */
export async function claimPostVersion(sql: Queryable, post: { postId: string; enqueuedAt: Date | null; model: string; chunks: number }): Promise<boolean> {
  const rows = await sql`
    INSERT INTO embedded_posts AS p (post_id, enqueued_at, model, chunks, updated_at)
    VALUES (${post.postId}, ${post.enqueuedAt}, ${post.model}, ${post.chunks}, now())
    ON CONFLICT (post_id) DO UPDATE
    SET enqueued_at = excluded.enqueued_at, model = excluded.model, chunks = excluded.chunks, updated_at = excluded.updated_at
    WHERE p.enqueued_at IS NULL OR excluded.enqueued_at IS NULL OR p.enqueued_at <= excluded.enqueued_at
    RETURNING post_id`;
  return rows.length === 1;
}
