import type { TransactionSql } from 'postgres';

/**
 * Queues a room event (room.updated, member.added, message.deleted, …) for the outbox workers,
 * inside the caller's transaction, which holds the room's row lock: the event is placed after
 * the room's last message (`seq`), and bumping `worker_rows_version` makes the room's later
 * messages queue behind it (gateway/sql/insert-messages.ts).
 */
export async function queueRoomEvent(tx: TransactionSql<{}>, roomId: string, type: string, data: Record<string, unknown>): Promise<void> {
  await tx`
    WITH bumped AS (
      UPDATE arcyou_chat_rooms SET worker_rows_version = worker_rows_version + 1, updated_at = now() WHERE id = ${roomId} RETURNING last_seq
    )
    INSERT INTO outbox (type, room_id, payload)
    SELECT ${type}, ${roomId}, ${tx.json(data as never)}::jsonb || jsonb_build_object('seq', last_seq) FROM bumped`;
}
