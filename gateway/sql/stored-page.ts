import type { Sql } from '../../shared/db/client';
import type { ChatMessage } from '../../shared/protocol/events';
import { messageJson } from './message-json';

/** One place of a room read back from PostgreSQL: the message, or null where it was deleted. */
export interface StoredPlace {
  seq: number;
  message: ChatMessage | null;
}

export interface StoredPage {
  /** Places in seq order. */
  places: StoredPlace[];
  /** True when the page reached the end asked for; false when it stopped at its row or byte limit (read on after its last place). */
  complete: boolean;
}

/** A reader reads at most about this many bytes of messages per query, so pages of large messages stay small in memory. */
export const PAGE_BYTES = 1024 * 1024;

type Bound = number | ReturnType<Sql>;

/**
 * SQL for a jsonb `{places, complete}`: the room's places after `afterSeq`, up to `upToSeq`
 * (null: the room's end), at most `limit` of them and — beyond the first — at most
 * PAGE_BYTES of message text. The bounds may be columns of the surrounding query.
 */
export function storedPageJson(sql: Sql, roomId: string, afterSeq: Bound, upToSeq: Bound | null, limit: number) {
  return sql`(
    SELECT jsonb_build_object(
      'places', coalesce(jsonb_agg(jsonb_build_object('seq', seq, 'message', CASE WHEN deleted_at IS NULL THEN message END) ORDER BY seq) FILTER (WHERE bytes_before < ${PAGE_BYTES}), '[]'::jsonb),
      'complete', count(*) < ${limit} AND bool_and(bytes_before < ${PAGE_BYTES}) IS NOT FALSE)
    FROM (
      SELECT seq, deleted_at, message, coalesce(sum(octet_length(message::text)) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes_before
      FROM (
        SELECT seq, deleted_at, ${messageJson(sql)} AS message FROM arcyou_chat_messages
        WHERE room_id = ${roomId} AND seq > ${afterSeq} AND (${upToSeq}::bigint IS NULL OR seq <= ${upToSeq}::bigint)
        ORDER BY seq
        LIMIT ${limit}
      ) rows
    ) page)`;
}
