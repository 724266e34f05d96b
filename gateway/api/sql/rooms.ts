// The server API's room statements. A room's row is its lock: whoever writes an event of the
// room takes it, so the event's place (`seq`: after that message, before the next) is exact.
import type { Sql } from '../../../shared/db/client';
import { queueRoomEvent } from '../../sql/room-event';

export interface RoomRow {
  id: string;
  name: string;
  description: string | null;
  last_seq: number;
  created_at: Date;
  updated_at: Date | null;
}

export type Role = 'owner' | 'manager' | 'participant';

/** A new room with its first members; null if a room with that id exists. No event: nobody is in it yet. */
export async function createRoom(
  sql: Sql,
  room: { id: string | null; name: string; description: string | null; members: Array<{ user_id: string; role: Role }> },
): Promise<RoomRow | null> {
  const [row] = await sql<RoomRow[]>`
    WITH room AS (
      INSERT INTO arcyou_chat_rooms (id, name, description)
      VALUES (coalesce(${room.id}::uuid, gen_random_uuid()), ${room.name}, ${room.description})
      ON CONFLICT (id) DO NOTHING
      RETURNING id, name, description, last_seq, created_at, updated_at
    ), members AS (
      INSERT INTO arcyou_chat_members (room_id, user_id, role)
      SELECT room.id, m.user_id, m.role
      FROM room, jsonb_to_recordset(${sql.json(room.members as never)}::jsonb) AS m (user_id uuid, role arcyou_chat_member_role)
    )
    SELECT * FROM room`;
  return row ?? null;
}

export async function getRoom(sql: Sql, roomId: string): Promise<(RoomRow & { member_count: number }) | null> {
  const [row] = await sql<(RoomRow & { member_count: number })[]>`
    SELECT r.id, r.name, r.description, r.last_seq, r.created_at, r.updated_at,
           (SELECT count(*)::int FROM arcyou_chat_members m WHERE m.room_id = r.id AND m.deleted_at IS NULL) AS member_count
    FROM arcyou_chat_rooms r WHERE r.id = ${roomId}`;
  return row ?? null;
}

/**
 * Renames or re-describes a room and queues `room.updated` to its members, placed after the
 * room's last message. `description: undefined` keeps it, null clears it. Null if no such room.
 */
export async function updateRoom(sql: Sql, roomId: string, change: { name?: string; description?: string | null }): Promise<RoomRow | null> {
  return sql.begin(async (tx) => {
    const [row] = await tx<RoomRow[]>`
      UPDATE arcyou_chat_rooms
      SET name = coalesce(${change.name ?? null}::text, name),
          description = CASE WHEN ${change.description !== undefined}::boolean THEN ${change.description ?? null}::text ELSE description END,
          updated_at = now()
      WHERE id = ${roomId}
      RETURNING id, name, description, last_seq, created_at, updated_at`;
    if (!row) return null;
    await queueRoomEvent(tx, roomId, 'room.updated', { room: { id: row.id, name: row.name, description: row.description, updated_at: row.updated_at } });
    return row;
  }) as Promise<RoomRow | null>;
}

/** Whether the room exists (without counting anything). */
export async function roomExists(sql: Sql, roomId: string): Promise<boolean> {
  return (await sql`SELECT 1 FROM arcyou_chat_rooms WHERE id = ${roomId}`).length > 0;
}
