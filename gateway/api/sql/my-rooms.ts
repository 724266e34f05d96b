// The rooms a user is an active member of, most recent activity first, with what a room
// list shows: the read position, how many messages came after it, and the last message.
import type { Sql } from '../../../shared/db/client';
import type { ChatMessage } from '../../../shared/protocol/events';
import { messageJson } from '../../sql/message-json';
import type { RoomRow, Role } from './rooms';

/** Unread messages are counted up to this many (a list shows "999+"). */
export const UNREAD_COUNT_CAP = 1000;

export interface MyRoom {
  room: RoomRow;
  role: Role;
  last_read_message_id: number | null;
  unread_count: number;
  last_message: ChatMessage | null;
}

export async function myRooms(sql: Sql, userId: string, limit: number): Promise<MyRoom[]> {
  const rows = await sql<(RoomRow & Omit<MyRoom, 'room'>)[]>`
    SELECT r.id, r.name, r.description, r.last_seq, r.created_at, r.updated_at,
           mb.role, mb.last_read_message_id,
           (SELECT count(*)::int FROM (
              SELECT 1 FROM arcyou_chat_messages m
              WHERE m.room_id = r.id AND m.id > coalesce(mb.last_read_message_id, 0) AND m.deleted_at IS NULL AND m.user_id <> ${userId}
              LIMIT ${UNREAD_COUNT_CAP}) unread) AS unread_count,
           (SELECT ${messageJson(sql)} FROM arcyou_chat_messages m WHERE m.id = r.last_message_id AND m.deleted_at IS NULL) AS last_message
    FROM arcyou_chat_members mb JOIN arcyou_chat_rooms r ON r.id = mb.room_id
    WHERE mb.user_id = ${userId} AND mb.deleted_at IS NULL
    -- updated_at moves with every message, membership change and edit of the room
    ORDER BY coalesce(r.updated_at, r.created_at) DESC, r.id
    LIMIT ${limit}`;
  return rows.map(({ role, last_read_message_id, unread_count, last_message, ...room }) => ({ room, role, last_read_message_id, unread_count, last_message }));
}
