import { randomUUID } from 'node:crypto';
import type { Sql } from '../../shared/db/client';

/** A room with the given members (user ids); returns the room id. */
export async function createRoom(sql: Sql, memberIds: string[], name = 'test room'): Promise<string> {
  const [room] = await sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES (${name}) RETURNING id`;
  for (const userId of memberIds) await sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${room!.id}, ${userId})`;
  return room!.id;
}

export const newUser = () => randomUUID();

/**
 * Messages stored, and outbox rows ever written (the outbox id sequence: rows the gateway
 * publishes itself are deleted right after, so their count goes down on its own).
 */
export async function countRows(sql: Sql): Promise<{ messages: number; outbox: number }> {
  const [row] = await sql<{ messages: number; outbox: number }[]>`
    SELECT (SELECT count(*)::int FROM arcyou_chat_messages) AS messages,
           (SELECT CASE WHEN is_called THEN last_value ELSE 0 END::int FROM outbox_id_seq) AS outbox`;
  return row!;
}
