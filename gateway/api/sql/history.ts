// A room's history by seq (keyset on the (room_id, seq) index: as fast on the millionth page
// as on the first). Deleted messages are left out, so a page can hold fewer than `limit`.
import type { Sql } from '../../../shared/db/client';
import type { ChatMessage } from '../../../shared/protocol/events';
import { messageJson } from '../../sql/message-json';

export interface HistoryPage {
  /** Oldest first. */
  messages: ChatMessage[];
  /** More messages lie beyond the page, in the direction read. */
  has_more: boolean;
  /**
   * The places the page covered (null if none): continue with `after_seq=to_seq` or
   * `before_seq=from_seq`, also past a page whose messages were all deleted.
   */
  from_seq: number | null;
  to_seq: number | null;
}

/**
 * `afterSeq` set: the first `limit` places after it (and before `beforeSeq`, if set), read
 * forward. Only `beforeSeq`, or neither: the last `limit` places before it (or the room's
 * end), read backward.
 */
export async function readHistory(sql: Sql, roomId: string, range: { afterSeq: number | null; beforeSeq: number | null }, limit: number): Promise<HistoryPage> {
  const forward = range.afterSeq !== null;
  const rows = await sql<{ seq: number; message: ChatMessage | null }[]>`
    SELECT seq, CASE WHEN deleted_at IS NULL THEN ${messageJson(sql)} END AS message
    FROM arcyou_chat_messages
    WHERE room_id = ${roomId}
      AND seq > ${range.afterSeq ?? 0} AND (${range.beforeSeq}::bigint IS NULL OR seq < ${range.beforeSeq}::bigint)
    ORDER BY CASE WHEN ${forward}::boolean THEN seq END ASC, CASE WHEN NOT ${forward}::boolean THEN seq END DESC
    LIMIT ${limit + 1}`;
  const places = rows.slice(0, limit);
  if (!forward) places.reverse();
  return {
    messages: places.flatMap((p) => (p.message ? [p.message] : [])),
    has_more: rows.length > limit,
    from_seq: places[0]?.seq ?? null,
    to_seq: places.at(-1)?.seq ?? null,
  };
}
