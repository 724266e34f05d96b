// The server API's membership statements. Each change of a room's members runs in one
// transaction that first takes the room's row lock, so its event gets an exact place in the
// room and later messages queue behind it (see rooms.ts).
import type { Sql } from '../../../shared/db/client';
import { queueRoomEvent } from '../../sql/room-event';
import type { Role } from './rooms';

export interface MemberRow {
  user_id: string;
  role: Role;
  last_read_message_id: number | null;
  created_at: Date;
}

/** Active members in user id order, after `afterUserId`; one more than `limit` tells there are more. */
export async function listMembers(sql: Sql, roomId: string, afterUserId: string | null, limit: number): Promise<MemberRow[]> {
  return sql<MemberRow[]>`
    SELECT user_id, role, last_read_message_id, created_at FROM arcyou_chat_members
    WHERE room_id = ${roomId} AND deleted_at IS NULL AND (${afterUserId}::uuid IS NULL OR user_id > ${afterUserId}::uuid)
    ORDER BY user_id
    LIMIT ${limit + 1}`;
}

export type PutMemberResult = { outcome: 'no_room' } | { outcome: 'added' | 'updated' | 'unchanged'; member: MemberRow };

/**
 * Adds a member, restores a removed one (a new membership) or changes a member's role, and
 * queues `member.added` or `member.updated` placed after the room's last message. A role left
 * out keeps an active member's role and makes a new or restored member a participant.
 */
export async function putMember(sql: Sql, roomId: string, userId: string, role: Role | null): Promise<PutMemberResult> {
  return sql.begin(async (tx) => {
    const [room] = await tx<{ last_seq: number }[]>`SELECT last_seq FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
    if (!room) return { outcome: 'no_room' } as const;
    const [before] = await tx<{ role: Role; active: boolean }[]>`
      SELECT role, deleted_at IS NULL AS active FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${userId} FOR UPDATE`;
    const wanted: Role = role ?? (before?.active ? before.role : 'participant');
    const outcome = !before || !before.active ? 'added' : before.role !== wanted ? 'updated' : 'unchanged';
    const [member] = await tx<(MemberRow & { membership_id: number })[]>`
      INSERT INTO arcyou_chat_members (room_id, user_id, role) VALUES (${roomId}, ${userId}, ${wanted})
      ON CONFLICT (room_id, user_id) DO UPDATE SET role = EXCLUDED.role, deleted_at = NULL
      RETURNING user_id, role, last_read_message_id, created_at, membership_id`;
    if (outcome !== 'unchanged') {
      await queueRoomEvent(tx, roomId, outcome === 'added' ? 'member.added' : 'member.updated', {
        user_id: userId,
        role: wanted,
        membership_id: member!.membership_id,
      });
    }
    const { membership_id: _, ...row } = member!;
    return { outcome, member: row };
  }) as Promise<PutMemberResult>;
}

/** The outbox row of an event this transaction wrote. */
export interface WrittenEvent {
  id: number;
  type: string;
  payload: unknown;
}

/**
 * Removes an active member (its member.removed event is written by the table's trigger,
 * placed after the room's last message): its sockets leave the room as soon as the event
 * reaches their gateway. Returns that outbox row too, so that the caller can publish it at
 * once instead of waiting for the outbox workers. 'no_room' / 'not_member' when there is
 * nothing to remove.
 */
export async function removeMember(
  sql: Sql,
  roomId: string,
  userId: string,
): Promise<{ outcome: 'removed'; event: WrittenEvent | null } | { outcome: 'no_room' | 'not_member' }> {
  return sql.begin(async (tx) => {
    const [room] = await tx`SELECT 1 FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
    if (!room) return { outcome: 'no_room' as const };
    const result = await tx`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${userId} AND deleted_at IS NULL`;
    if (result.count !== 1) return { outcome: 'not_member' as const };
    const [event] = await tx<WrittenEvent[]>`
      SELECT id, type, payload FROM outbox
      WHERE room_id = ${roomId} AND type = 'member.removed' AND xmin = pg_current_xact_id()::xid AND payload->>'user_id' = ${userId}
      ORDER BY id DESC LIMIT 1`;
    return { outcome: 'removed' as const, event: event ?? null };
  }) as Promise<{ outcome: 'removed'; event: WrittenEvent | null } | { outcome: 'no_room' | 'not_member' }>;
}
