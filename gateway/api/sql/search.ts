// Message search in one room: text messages whose text contains the query, case-insensitive
// (ILIKE on the trigram index of sql/0007_message_search.sql; trigrams work for Korean and
// other text without spaces between words). Newest first, by seq cursor.
import type { Sql } from '../../../shared/db/client';
import type { ChatMessage } from '../../../shared/protocol/events';
import { messageJson } from '../../sql/message-json';

export interface SearchPage {
  /** Newest first. */
  messages: ChatMessage[];
  /** Older matches exist: continue with `before_seq` = the last message's seq. */
  has_more: boolean;
}

/** `query` is matched literally: %, _ and \ in it are not wildcards. */
export async function searchMessages(sql: Sql, roomId: string, query: string, beforeSeq: number | null, limit: number): Promise<SearchPage> {
  const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await sql<{ message: ChatMessage }[]>`
    SELECT ${messageJson(sql)} AS message
    FROM arcyou_chat_messages
    WHERE room_id = ${roomId} AND deleted_at IS NULL
      AND content->>'text' ILIKE ${pattern}
      AND (${beforeSeq}::bigint IS NULL OR seq < ${beforeSeq}::bigint)
    ORDER BY seq DESC
    LIMIT ${limit + 1}`;
  return { messages: rows.slice(0, limit).map((r) => r.message), has_more: rows.length > limit };
}
