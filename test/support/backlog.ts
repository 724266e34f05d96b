import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/client';

/**
 * Writes `count` messages to a room the way the send op does (message rows with the next
 * seqs + pending outbox rows + the room's last_seq and last_message_id), in one
 * transaction holding the room lock: a backlog for the workers.
 */
export function insertBacklog(sql: Sql, roomId: string, userId: string, count: number): Promise<number[]> {
  return insertMessages(
    sql,
    roomId,
    userId,
    Array.from({ length: count }, (_, i) => ({ n: i + 1 })),
  );
}

/** Like insertBacklog, with the content of each message given, in order. Returns the new message ids. */
export async function insertMessages(sql: Sql, roomId: string, userId: string, contents: Array<Record<string, unknown>>): Promise<number[]> {
  return sql.begin(async (tx) => {
    const [room] = await tx<{ last_seq: number }[]>`SELECT last_seq FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
    const rows = await tx<{ id: number }[]>`
      WITH input AS (
        SELECT ordinality AS n, value AS content FROM jsonb_array_elements(${sql.json(contents as never)}::jsonb) WITH ORDINALITY
      ), message AS (
        INSERT INTO arcyou_chat_messages (room_id, seq, user_id, content)
        SELECT ${roomId}, ${room!.last_seq} + n, ${userId}, content FROM input ORDER BY n
        RETURNING id, room_id, seq, user_id, content, created_at
      ), queued AS (
        INSERT INTO outbox (type, room_id, payload)
        SELECT 'message.created', room_id, jsonb_build_object('id', id, 'seq', seq, 'user_id', user_id, 'content', content, 'created_at', created_at)
        FROM message ORDER BY id
      )
      SELECT id FROM message ORDER BY id`;
    await tx`UPDATE arcyou_chat_rooms SET last_seq = last_seq + ${contents.length}, last_message_id = ${rows.at(-1)!.id} WHERE id = ${roomId}`;
    return rows.map((r) => r.id);
  });
}

/** Resolves once no outbox row is pending or in progress (the workers published everything). */
export async function waitForOutboxDrained(sql: Sql, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status IN ('pending', 'in_progress')`;
    if (row!.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${row!.n} outbox rows still unpublished after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Asserts-friendly summary of what one client received in a room. */
export function receivedIds(events: Array<{ message?: { id?: number } }>): { ids: number[]; duplicates: number; outOfOrder: number } {
  const ids = events.map((e) => e.message!.id!);
  let outOfOrder = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) outOfOrder++;
  return { ids, duplicates: ids.length - new Set(ids).size, outOfOrder };
}
