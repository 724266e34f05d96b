import type { Sql } from '../../shared/db/client';

/**
 * The `message` object of events, built in SQL from a row with the message columns, so
 * live events (built when the message is written) and backfill events read exactly alike.
 */
export const messageJson = (sql: Sql) =>
  sql`jsonb_build_object('id', id, 'seq', seq, 'user_id', user_id, 'type', type, 'reply_to_message_id', reply_to_message_id, 'content', content, 'created_at', created_at)`;
