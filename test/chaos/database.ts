// What the chaos run reads from and writes to its database, outside the membership
// churn: the schema it finds, the rooms and members it creates, and what it checks at
// the end (stored messages, the outbox, each room's last seq).
import type { Sql } from '../../shared/db/client';
import { createRoom, newUser } from '../support/fixtures';
import type { Member, StoredMessage } from './trace';

export async function columnExists(sql: Sql, table: string, column: string): Promise<boolean> {
  const rows = await sql`SELECT 1 FROM information_schema.columns WHERE table_name = ${table} AND column_name = ${column}`;
  return rows.length > 0;
}

export async function loadStored(sql: Sql, hasSeq: boolean): Promise<StoredMessage[]> {
  type Row = { id: number; room_id: string; seq: number; user_id: string; content: unknown; created_at: Date };
  const rows = hasSeq
    ? await sql<Row[]>`SELECT id, room_id, seq, user_id, content, created_at FROM arcyou_chat_messages ORDER BY id`
    : await sql<Row[]>`
        SELECT id, room_id, (row_number() OVER (PARTITION BY room_id ORDER BY id))::int AS seq, user_id, content, created_at FROM arcyou_chat_messages ORDER BY id`;
  return rows.map((r) => ({ id: r.id, roomId: r.room_id, seq: Number(r.seq), userId: r.user_id, content: r.content, createdAt: r.created_at.getTime() }));
}

export async function outboxLeft(sql: Sql): Promise<{ pending: number; inProgress: number; dead: number }> {
  const [row] = await sql<{ pending: number; in_progress: number; dead: number }[]>`
    SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
           count(*) FILTER (WHERE status = 'in_progress')::int AS in_progress,
           count(*) FILTER (WHERE status = 'dead')::int AS dead
    FROM outbox`;
  return { pending: row!.pending, inProgress: row!.in_progress, dead: row!.dead };
}

export async function lastSeqByRoom(sql: Sql, hasSeq: boolean): Promise<Map<string, number>> {
  const rows = hasSeq
    ? await sql<{ room_id: string; last: number }[]>`SELECT room_id, max(seq)::int AS last FROM arcyou_chat_messages GROUP BY room_id`
    : await sql<{ room_id: string; last: number }[]>`SELECT room_id, count(*)::int AS last FROM arcyou_chat_messages GROUP BY room_id`;
  return new Map(rows.map((r) => [r.room_id, r.last]));
}

export async function createMembers(sql: Sql, rooms: number, membersPerRoom: number): Promise<Member[]> {
  const members: Member[] = [];
  for (let r = 1; r <= rooms; r++) {
    const users = Array.from({ length: membersPerRoom }, () => newUser());
    const roomId = await createRoom(sql, users, `chaos ${r}`);
    users.forEach((userId, m) => members.push({ label: `r${r}m${m + 1}`, userId, roomId }));
  }
  return members;
}

/** One more member per room, for an application on the client SDK (test/chaos/sdk-member.ts); the churn leaves it alone. */
export async function addSdkMembers(sql: Sql, roomIds: readonly string[]): Promise<Array<{ label: string; userId: string; roomId: string }>> {
  const added = roomIds.map((roomId, r) => ({ label: `r${r + 1}sdk`, userId: newUser(), roomId }));
  for (const { userId, roomId } of added) await sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${userId})`;
  return added;
}
