import type { Sql } from '../../shared/db/client';
import { OUTBOX_CHANNEL } from '../../shared/outbox/notify-channel';
import type { ChatMessage } from '../../shared/protocol/events';
import { messageJson } from './message-json';

export interface NewMessage {
  roomId: string;
  userId: string;
  content: Record<string, unknown>;
  /** Merged into the outbox payload (the client's temp_id). */
  extra: Record<string, unknown>;
  /**
   * Makes the send idempotent (the WebSocket temp_id, the HTTP Idempotency-Key): a message
   * with the same key from the same sender in the same room is stored once, and every later
   * send with it gets that first message back.
   */
  clientKey?: string | null;
  /** `text` when left out; `system` for messages the application's backend writes. */
  type?: MessageType;
  /** The message of the same room this one answers (checked by the caller). */
  replyToMessageId?: number | null;
}

export type MessageType = 'text' | 'image' | 'file' | 'system';

/**
 * The error of a send refused because message ids reached 2^53 − 1, the cap of their
 * sequence (sql/0005_room_seq.sql): PostgreSQL's sequence_generator_limit_exceeded.
 */
export function idsExhausted(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '2200H';
}

export interface StoredMessage {
  id: number;
  seq: number;
  /** The message as its event carries it (the outbox payload). */
  message: ChatMessage;
  /** The outbox row, when this gateway publishes the message itself (the fast path); null: the worker does. */
  fastRowId: number | null;
  /** Stored before, by a send with the same client key: nothing was written now (nothing to publish). */
  earlier: boolean;
  /**
   * Where the room's newest event other than a message was placed when this message was
   * stored (`arcyou_chat_rooms.event_seq`; the message before it when unknown).
   */
  eventSeq: number;
}

export interface InsertOptions {
  /**
   * Write the outbox rows this gateway will publish itself as claimed by it (`locked_by`,
   * until `fastLockSeconds` from now: past that the reaper hands them to the workers).
   * null: every row is left pending for the workers.
   */
  fastPathOwner: string | null;
  fastLockSeconds: number;
  /** Wake the workers (NOTIFY) in this transaction if any row is left to them. */
  notify: boolean;
}

/**
 * Stores a batch of messages (a group commit: sends from any connections, any rooms) in one
 * statement, so one transaction and one round trip. Its rooms are locked in id order (two
 * batches never deadlock); under those locks each message draws the next seq of its room
 * and an id, so a room's seqs and ids follow commit order — and, within the batch, the order
 * the messages are given in — and gets its outbox row. Returns one
 * result per input, in input order: null for a sender that is not an active member
 * (nothing is written for it).
 *
 * Fast path: the outbox row of a message whose room has no row in the workers' hands
 * (pending, or claimed by a worker) is written as claimed by this gateway, which publishes
 * it right after the commit and deletes it. A room with a row in the workers' hands (e.g. a
 * member.removed written by a trigger) keeps its new rows pending behind it, so the workers
 * publish that room in order. The check reads the statement's snapshot, which can predate a
 * row committed while this statement waited for the room's lock: whoever leaves a room's row
 * to the workers bumps the room's `worker_rows_version` under that lock (sql/0005_room_seq.sql,
 * and this statement), so such a row shows as a locked row newer than the snapshot's, and the
 * room then takes the workers' path.
 *
 * Each result also says where the room's newest non-message event was placed (`eventSeq`),
 * so that the gateway can tell whether it may hand the message to its own sockets at once.
 */
interface Written {
  /** Per message stored: its input index and id. */
  stored: Array<{ n: number; id: number; seq: number; event_seq: number }> | null;
  /** Per input whose client key was used before: its input index and that message. */
  earlier: Array<{ n: number; message: ChatMessage }> | null;
  /** Per outbox row written: its id, its message and event payload, and whether this gateway holds it. */
  queued: Array<{ id: number; payload: ChatMessage; fast: boolean }> | null;
}

// The statement avoids joins between its CTEs where it can: the planner knows nothing of
// their sizes and nested-loops them, which is quadratic in the batch. Results come back as
// two independent aggregates and are matched here by message id.
export async function insertMessages(sql: Sql, messages: readonly NewMessage[], options: InsertOptions): Promise<Array<StoredMessage | null>> {
  if (messages.length === 0) return [];
  // A key given twice in one batch: the later sends get what the first one gets.
  const firstWithKey = new Map<string, number>();
  const sameAs = messages.map((m, n) => {
    if (m.clientKey == null) return n;
    const key = JSON.stringify([m.roomId, m.userId, m.clientKey]);
    const first = firstWithKey.get(key);
    if (first !== undefined) return first;
    firstWithKey.set(key, n);
    return n;
  });
  const input = messages.flatMap((m, n) =>
    sameAs[n] === n
      ? [
          {
            n,
            room_id: m.roomId,
            user_id: m.userId,
            type: m.type ?? 'text',
            reply_to: m.replyToMessageId ?? null,
            content: m.content,
            extra: m.extra,
            client_key: m.clientKey ?? null,
          },
        ]
      : [],
  );
  let written: Written;
  for (let attempt = 1; ; attempt++) {
    try {
      written = await insertBatch(sql, input, options);
      break;
    } catch (err) {
      // A send with the same key committed in another batch after this statement's snapshot
      // was taken: nothing was written; the next attempt finds it.
      const conflict = (err as { constraint_name?: string }).constraint_name === 'arcyou_chat_message_keys_pkey';
      if (!conflict || attempt === 3) throw err;
    }
  }
  const rows = new Map((written.queued ?? []).map((row) => [row.payload.id, row]));
  const results: Array<StoredMessage | null> = messages.map(() => null);
  for (const { n, id, seq, event_seq } of written.stored ?? []) {
    const row = rows.get(id)!;
    results[n] = { id, seq, message: row.payload, fastRowId: row.fast ? row.id : null, earlier: false, eventSeq: event_seq };
  }
  for (const { n, message } of written.earlier ?? [])
    results[n] = { id: message.id, seq: message.seq, message, fastRowId: null, earlier: true, eventSeq: message.seq };
  return messages.map((_, n) => {
    const first = results[sameAs[n]!] ?? null;
    return first && sameAs[n] !== n ? { ...first, fastRowId: null, earlier: true } : first;
  });
}

interface Input {
  n: number;
  room_id: string;
  user_id: string;
  type: MessageType;
  reply_to: number | null;
  content: Record<string, unknown>;
  extra: Record<string, unknown>;
  client_key: string | null;
}

async function insertBatch(sql: Sql, input: readonly Input[], options: InsertOptions): Promise<Written> {
  const [written] = await sql<Written[]>`
    WITH input AS (
      SELECT i.*,
             -- Scalar subqueries, so that they stay primary-key lookups per input row: as EXISTS
             -- or a join, the planner turned the membership check into a hash join over every
             -- active membership.
             (SELECT mb.deleted_at IS NULL FROM arcyou_chat_members mb WHERE mb.room_id = i.room_id AND mb.user_id = i.user_id) AS member,
             CASE WHEN i.client_key IS NOT NULL THEN
               (SELECT k.message_id FROM arcyou_chat_message_keys k WHERE k.room_id = i.room_id AND k.user_id = i.user_id AND k.client_key = i.client_key)
             END AS earlier_id
      FROM jsonb_to_recordset(${sql.json(input as never)}::jsonb) AS i (n int, room_id uuid, user_id uuid, type arcyou_chat_message_type, reply_to bigint, content jsonb, extra jsonb, client_key text)
    ), allowed AS (
      SELECT * FROM input WHERE member AND earlier_id IS NULL
    ), earlier AS (
      SELECT i.n, m.id, m.seq, m.user_id, m.type, m.reply_to_message_id, m.content, m.created_at
      FROM input i JOIN arcyou_chat_messages m ON m.id = i.earlier_id
      WHERE i.member
    ), locked AS (
      SELECT r.id, r.last_seq, r.worker_rows_version, r.event_seq FROM arcyou_chat_rooms r
      WHERE r.id IN (SELECT room_id FROM allowed)
      ORDER BY r.id
      FOR UPDATE
    ), rooms AS (
      SELECT l.id, l.last_seq, coalesce(l.event_seq, l.last_seq) AS event_seq,
             ${options.fastPathOwner}::text IS NOT NULL
             -- No row left to the workers since this statement's snapshot (which the check below reads).
             AND l.worker_rows_version = (SELECT s.worker_rows_version FROM arcyou_chat_rooms s WHERE s.id = l.id)
             -- outbox_worker_rows_idx, whose predicate this repeats literally ('gateway:' = FAST_PATH_OWNER_PREFIX).
             AND NOT EXISTS (
               SELECT 1 FROM outbox o
               WHERE o.room_id = l.id AND (o.status = 'pending' OR (o.status = 'in_progress' AND o.locked_by NOT LIKE 'gateway:%'))
             ) AS fast
      FROM locked l
    ), numbered AS (
      -- nextval runs after the sort (a volatile select-list function), so ids follow (room, input) order,
      -- and after the rows of every room were locked.
      SELECT a.n, a.room_id, a.user_id, a.type, a.reply_to AS reply_to_message_id, a.content, a.extra, a.client_key, r.fast, r.event_seq, now() AS created_at,
             r.last_seq + row_number() OVER (PARTITION BY a.room_id ORDER BY a.n) AS seq,
             nextval('arcyou_chat_messages_id_seq') AS id
      FROM allowed a JOIN rooms r ON r.id = a.room_id
      ORDER BY a.room_id, a.n
    ), message AS (
      INSERT INTO arcyou_chat_messages (id, room_id, seq, user_id, type, reply_to_message_id, content, created_at)
      SELECT id, room_id, seq, user_id, type, reply_to_message_id, content, created_at FROM numbered
    ), room_update AS (
      UPDATE arcyou_chat_rooms r
      SET last_seq = last.seq, last_message_id = last.id, updated_at = now(), event_seq = last.event_seq,
          worker_rows_version = r.worker_rows_version + CASE WHEN last.fast THEN 0 ELSE 1 END
      FROM (SELECT DISTINCT ON (room_id) room_id, seq, id, fast, event_seq FROM numbered ORDER BY room_id, seq DESC) last
      WHERE r.id = last.room_id
    ), queued AS (
      INSERT INTO outbox (type, room_id, payload, status, locked_by, locked_until)
      SELECT 'message.created', room_id, ${messageJson(sql)} || extra,
             CASE WHEN fast THEN 'in_progress' ELSE 'pending' END::outbox_status,
             CASE WHEN fast THEN ${options.fastPathOwner}::text END,
             CASE WHEN fast THEN now() + make_interval(secs => ${options.fastLockSeconds}) END
      FROM numbered
      ORDER BY room_id, seq
      RETURNING id, payload, status
    ), keyed AS (
      INSERT INTO arcyou_chat_message_keys (room_id, user_id, client_key, message_id)
      SELECT room_id, user_id, client_key, id FROM numbered WHERE client_key IS NOT NULL
    ), woken AS (
      SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM (SELECT 1 FROM queued WHERE status = 'pending' LIMIT 1) any_pending WHERE ${options.notify}::boolean
    )
    SELECT
      (SELECT jsonb_agg(jsonb_build_object('n', n, 'id', id, 'seq', seq, 'event_seq', event_seq)) FROM numbered) AS stored,
      (SELECT jsonb_agg(jsonb_build_object('n', n, 'message', ${messageJson(sql)})) FROM earlier) AS earlier,
      (SELECT jsonb_agg(jsonb_build_object('id', id, 'payload', payload, 'fast', status = 'in_progress')) FROM queued) AS queued,
      (SELECT count(*) FROM woken) AS notified`;
  return written!;
}
