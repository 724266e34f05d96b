// The schema side of per-room seq (sql/0005_room_seq.sql): numbering existing messages,
// numbering concurrent sends with no gap in commit order, memberships and their removal
// events, and the id caps at 2^53 − 1 (message, outbox and membership ids).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../shared/db/migrate';
import { insertMessages, type NewMessage } from '../gateway/sql/insert-messages';
import { retireFastRows } from '../gateway/sql/retire-fast-rows';
import { queueRoomEvent } from '../gateway/sql/room-event';
import type { Sql } from '../shared/db/client';

/** One message through the send path's statement, left to the workers. */
const insertMessage = async (sql: Sql, roomId: string, userId: string, content: Record<string, unknown>) =>
  (await insertMessages(sql, [{ roomId, userId, content, extra: {} }], { fastPathOwner: null, fastLockSeconds: 0, notify: false }))[0]!;
import { createRoom, newUser } from './support/fixtures';
import { createTestDatabase, type TestDatabase } from './support/services';

describe('migration 0005 on a database with history', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db.drop());

  it('numbers existing messages 1, 2, 3, … per room in id order, and sets each room last_seq', async () => {
    const all = await readMigrations();
    await migrate(
      db.sql,
      all.filter((m) => m.name < '0005'),
    );
    const [alice, bob] = [newUser(), newUser()];
    const [a] = await db.sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES ('a') RETURNING id`;
    const [b] = await db.sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES ('b') RETURNING id`;
    await db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${a!.id}, ${alice}), (${b!.id}, ${bob})`;
    // Interleaved across the two rooms, so ids alone are not per-room positions.
    for (let i = 0; i < 5; i++) {
      await db.sql`INSERT INTO arcyou_chat_messages (room_id, user_id, content) VALUES (${a!.id}, ${alice}, ${db.sql.json({ i })})`;
      if (i < 3) await db.sql`INSERT INTO arcyou_chat_messages (room_id, user_id, content) VALUES (${b!.id}, ${bob}, ${db.sql.json({ i })})`;
    }
    await migrate(db.sql);
    const rows = await db.sql<{ room: string; seqs: number[] }[]>`
      SELECT r.name AS room, array_agg(m.seq ORDER BY m.id)::int[] AS seqs
      FROM arcyou_chat_messages m JOIN arcyou_chat_rooms r ON r.id = m.room_id GROUP BY r.name ORDER BY r.name`;
    expect(rows).toEqual([
      { room: 'a', seqs: [1, 2, 3, 4, 5] },
      { room: 'b', seqs: [1, 2, 3] },
    ]);
    const rooms = await db.sql<{ name: string; last_seq: number }[]>`SELECT name, last_seq FROM arcyou_chat_rooms ORDER BY name`;
    expect(rooms).toEqual([
      { name: 'a', last_seq: 5 },
      { name: 'b', last_seq: 3 },
    ]);
    const members = await db.sql<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members`;
    expect(new Set(members.map((m) => m.membership_id)).size).toBe(2);
    // A send after the migration takes the next seq.
    expect(await insertMessage(db.sql, a!.id, alice, { after: true })).toMatchObject({ seq: 6 });
  });
});

describe('per-room seq on a migrated database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('numbers concurrent sends to one room 1…N with no gap, in the order of their ids (commit order)', async () => {
    const users = Array.from({ length: 8 }, () => newUser());
    const roomId = await createRoom(db.sql, users);
    const stored = await Promise.all(Array.from({ length: 200 }, (_, i) => insertMessage(db.sql, roomId, users[i % users.length]!, { i })));
    const seqs = stored.map((s) => s!.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const rows = await db.sql<{ id: number; seq: number }[]>`SELECT id, seq FROM arcyou_chat_messages WHERE room_id = ${roomId} ORDER BY id`;
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    const [room] = await db.sql<{ last_seq: number; last_message_id: number }[]>`SELECT last_seq, last_message_id FROM arcyou_chat_rooms WHERE id = ${roomId}`;
    expect(room).toEqual({ last_seq: 200, last_message_id: rows.at(-1)!.id });
    // The outbox payload carries the seq the message got.
    const payloads = await db.sql<{ id: number; seq: number }[]>`
      SELECT (payload->>'id')::bigint AS id, (payload->>'seq')::bigint AS seq FROM outbox WHERE room_id = ${roomId} ORDER BY id`;
    expect(payloads).toEqual(rows);
  });

  it('writes nothing and takes no seq for a non-member', async () => {
    const [alice, mallory] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice]);
    expect(await insertMessage(db.sql, roomId, mallory, { x: 1 })).toBeNull();
    expect(await insertMessage(db.sql, roomId, alice, { x: 2 })).toMatchObject({ seq: 1 });
  });

  it('a removal names the membership it ended and its place in the room; a re-add starts a new membership', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    await insertMessage(db.sql, roomId, alice, { n: 1 });
    await insertMessage(db.sql, roomId, alice, { n: 2 });
    const [before] = await db.sql<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    await db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
    const [removed] = await db.sql<
      { removed_after_seq: number }[]
    >`SELECT removed_after_seq FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    expect(removed!.removed_after_seq).toBe(2);
    const [event] = await db.sql<{ payload: Record<string, unknown> }[]>`SELECT payload FROM outbox WHERE room_id = ${roomId} AND type = 'member.removed'`;
    expect(event!.payload).toEqual({ user_id: bob, membership_id: before!.membership_id, seq: 2 });

    await db.sql`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${bob}`;
    const [after] = await db.sql<{ membership_id: number; removed_after_seq: number | null }[]>`
      SELECT membership_id, removed_after_seq FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    expect(after!.membership_id).toBeGreaterThan(before!.membership_id);
    expect(after!.removed_after_seq).toBeNull();
  });

  it('a removal and re-add in one transaction changes nothing anyone can see: same membership, no event', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const [before] = await db.sql<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    await db.sql.begin(async (tx) => {
      await tx`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
      await tx`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${bob}`;
    });
    const [after] = await db.sql<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    expect(after!.membership_id).toBe(before!.membership_id);
    expect(await db.sql`SELECT 1 FROM outbox WHERE room_id = ${roomId} AND type = 'member.removed'`).toHaveLength(0);
  });

  it('a member row deleted outright still gets a removal event with its place', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    await insertMessage(db.sql, roomId, alice, { n: 1 });
    await db.sql`DELETE FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    const [event] = await db.sql<
      { payload: { seq: number; user_id: string } }[]
    >`SELECT payload FROM outbox WHERE room_id = ${roomId} AND type = 'member.removed'`;
    expect(event!.payload).toMatchObject({ user_id: bob, seq: 1 });
    // Deleting the room deletes its members too; that must not fail.
    await db.sql`DELETE FROM arcyou_chat_rooms WHERE id = ${roomId}`;
  });

  it('refuses a message id past 2^53 − 1 instead of storing one JavaScript cannot represent', async () => {
    const alice = newUser();
    const roomId = await createRoom(db.sql, [alice]);
    await db.sql`SELECT setval('arcyou_chat_messages_id_seq', ${Number.MAX_SAFE_INTEGER - 1})`;
    try {
      expect(await insertMessage(db.sql, roomId, alice, { last: true })).toMatchObject({ id: Number.MAX_SAFE_INTEGER });
      await expect(insertMessage(db.sql, roomId, alice, { past: true })).rejects.toMatchObject({ code: '2200H' });
      const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${roomId}`;
      expect(row!.n).toBe(1);
    } finally {
      await db.sql`SELECT setval('arcyou_chat_messages_id_seq', (SELECT max(id) FROM arcyou_chat_messages WHERE id < ${Number.MAX_SAFE_INTEGER - 1}))`;
    }
  });

  it('refuses a membership id past 2^53 − 1 (sql/0013), for a new member and for a restored one alike', async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice]);
    const membershipOf = async (userId: string) =>
      (
        await db.sql<
          { membership_id: number; deleted_at: Date | null }[]
        >`SELECT membership_id, deleted_at FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${userId}`
      )[0];
    await db.sql`SELECT setval('arcyou_chat_membership_id_seq', ${Number.MAX_SAFE_INTEGER - 1})`;
    try {
      await db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${bob})`;
      expect(await membershipOf(bob)).toMatchObject({ membership_id: Number.MAX_SAFE_INTEGER });
      await expect(db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${carol})`).rejects.toMatchObject({ code: '2200H' });
      expect(await membershipOf(carol)).toBeUndefined();
      // A restore starts a new membership (the trigger's nextval): refused too, and alice stays removed.
      await db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${alice}`;
      await expect(db.sql`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${alice}`).rejects.toMatchObject({
        code: '2200H',
      });
      expect((await membershipOf(alice))!.deleted_at).not.toBeNull();
    } finally {
      await db.sql`SELECT setval('arcyou_chat_membership_id_seq', (SELECT max(membership_id) FROM arcyou_chat_members WHERE membership_id < ${Number.MAX_SAFE_INTEGER - 1}))`;
      await db.sql`DELETE FROM arcyou_chat_rooms WHERE id = ${roomId}`;
    }
  });

  it('stops every sequence at 2^53 − 1: all their values go on the wire as JSON numbers', async () => {
    const sequences = await db.sql<
      { name: string; max: string }[]
    >`SELECT sequencename AS name, max_value::text AS max FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1`;
    expect(sequences.map((s) => s.name)).toEqual(expect.arrayContaining(['arcyou_chat_membership_id_seq', 'arcyou_chat_messages_id_seq', 'outbox_id_seq']));
    expect(
      sequences.filter((s) => BigInt(s.max) > BigInt(Number.MAX_SAFE_INTEGER)),
      'sequences that can pass 2^53 − 1',
    ).toEqual([]);
  });
});

describe('group commit (insertMessages with many messages)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  const options = { fastPathOwner: 'gateway:test', fastLockSeconds: 5, notify: false };

  it('numbers each room of a batch in the order its messages were given, ids and outbox rows alike, and refuses non-members only', async () => {
    const [alice, bob, mallory] = [newUser(), newUser(), newUser()];
    const roomA = await createRoom(db.sql, [alice, bob]);
    const roomB = await createRoom(db.sql, [alice]);
    const order = [roomA, roomB, roomA, roomA, roomB, roomA];
    const batch: NewMessage[] = order.map((roomId, i) => ({ roomId, userId: i === 2 ? bob : alice, content: { i }, extra: { temp_id: `t${i}` } }));
    batch.splice(3, 0, { roomId: roomA, userId: mallory, content: { i: -1 }, extra: {} });
    const results = await insertMessages(db.sql, batch, options);
    expect(results[3]).toBeNull();
    const stored = results.filter((r) => r !== null);
    const seqsOf = (roomId: string) => batch.flatMap((m, i) => (m.roomId === roomId && results[i] ? [results[i]!.seq] : []));
    expect(seqsOf(roomA)).toEqual([1, 2, 3, 4]);
    expect(seqsOf(roomB)).toEqual([1, 2]);
    for (const roomId of [roomA, roomB]) {
      const rows = await db.sql<
        { id: number; seq: number; content: { i: number } }[]
      >`SELECT id, seq, content FROM arcyou_chat_messages WHERE room_id = ${roomId} ORDER BY seq`;
      const ids = rows.map((r) => r.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      const outbox = await db.sql<{ seq: number }[]>`SELECT (payload->>'seq')::int AS seq FROM outbox WHERE room_id = ${roomId} ORDER BY id`;
      expect(outbox.map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
    }
    expect(stored.every((r) => r.fastRowId !== null)).toBe(true);
    // Each result is its own message (the temp_id it was sent with), in the order given.
    expect(stored.map((r) => r.message.temp_id)).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
  });

  it('never deadlocks: concurrent batches over the same rooms, given in different orders, all commit with gapless seqs', async () => {
    const users = Array.from({ length: 6 }, () => newUser());
    const rooms = await Promise.all(Array.from({ length: 6 }, () => createRoom(db.sql, users)));
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 18 }, (_, i) => ({
        roomId: rooms[(i * (b + 1) + b) % rooms.length]!,
        userId: users[i % users.length]!,
        content: { b, i },
        extra: {},
      })),
    );
    const results = await Promise.all(batches.map((batch) => insertMessages(db.sql, batch, options)));
    expect(results.flat().every((r) => r !== null)).toBe(true);
    for (const roomId of rooms) {
      const [row] = await db.sql<{ n: number; max: number; last_seq: number }[]>`
        SELECT count(*)::int AS n, max(seq)::int AS max, (SELECT last_seq::int FROM arcyou_chat_rooms WHERE id = ${roomId}) AS last_seq
        FROM arcyou_chat_messages WHERE room_id = ${roomId}`;
      expect(row!.max).toBe(row!.n);
      expect(row!.last_seq).toBe(row!.n);
    }
  });

  it('tells each message where the room’s newest event other than a message was placed (eventSeq)', async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob, carol]);
    const store = async (count = 1) =>
      (
        await insertMessages(
          db.sql,
          Array.from({ length: count }, (_, n) => ({ roomId, userId: alice, content: { n }, extra: {} })),
          { ...options, fastPathOwner: null },
        )
      ).map((r) => [r!.seq, r!.eventSeq]);
    expect(await store(2)).toEqual([
      [1, 0],
      [2, 0],
    ]);
    await db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
    expect(await store()).toEqual([[3, 2]]);
    await db.sql.begin((tx) => queueRoomEvent(tx, roomId, 'room.updated', { name: 'renamed' }));
    expect(await store()).toEqual([[4, 3]]);
    await db.sql`DELETE FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${carol}`;
    expect(await store(2)).toEqual([
      [5, 4],
      [6, 4],
    ]);
    // A room from before the column: unknown, taken as the message before; known from then on.
    await db.sql`UPDATE arcyou_chat_rooms SET event_seq = NULL WHERE id = ${roomId}`;
    expect(await store(2)).toEqual([
      [7, 6],
      [8, 6],
    ]);
    expect(await store()).toEqual([[9, 6]]);
  });

  it('leaves a room to the workers (pending) while a row of it is in their hands', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom(db.sql, [alice]);
    const [first] = await insertMessages(db.sql, [{ roomId, userId: alice, content: { n: 1 }, extra: {} }], options);
    expect(first!.fastRowId).not.toBeNull();
    // A removal (trigger, pending): later messages of the room go behind it, to the workers.
    const bob = newUser();
    await db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${bob})`;
    await db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
    expect(await retireFastRows(db.sql, options.fastPathOwner, [first!.fastRowId!])).toBe(1);
    const [second] = await insertMessages(db.sql, [{ roomId, userId: alice, content: { n: 2 }, extra: {} }], options);
    expect(second!.fastRowId).toBeNull();
    const rows = await db.sql<{ type: string; status: string }[]>`SELECT type, status::text FROM outbox WHERE room_id = ${roomId} ORDER BY id`;
    expect(rows).toEqual([
      { type: 'member.removed', status: 'pending' },
      { type: 'message.created', status: 'pending' },
    ]);
  });
});
