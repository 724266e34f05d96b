// A send retried with the same temp_id is stored once: the retry gets the first message's
// id and seq back, and nobody receives it twice — whether the retry comes later, in the
// same batch, or at the same moment over another connection of the same user.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessages } from '../gateway/sql/insert-messages';
import { createSql } from '../shared/db/client';
import { createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { clientPool } from './support/client-pool';

describe('idempotent sends (temp_id)', () => {
  let system: TestSystem;
  const clients = clientPool();
  const connect = (userId: string, roomId: string) => clients.member(system.port, userId, roomId);
  const rowsOf = async (roomId: string) =>
    (await system.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${roomId}`)[0]!.n;

  beforeAll(async () => {
    system = await startSystem({ RL_BUCKET_CAPACITY: '10000', RL_REFILL_MS: '1000' });
  });
  afterAll(async () => {
    clients.closeAll();
    await system?.stop();
  });

  it('answers a retry with the first message and stores and delivers it once', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice, roomId);
    const b = await connect(bob, roomId);
    const first = await a.request({ op: 'send', room_id: roomId, content: { text: 'once' }, temp_id: 'retry-1' });
    const retry = await a.request({ op: 'send', room_id: roomId, content: { text: 'once, again' }, temp_id: 'retry-1' });
    expect(first).toMatchObject({ success: true, seq: 1 });
    expect(retry).toMatchObject({ success: true, message_id: first.message_id, seq: 1, temp_id: 'retry-1' });
    const next = await a.request({ op: 'send', room_id: roomId, content: { text: 'next' }, temp_id: 'retry-2' });
    expect(next.seq).toBe(2);
    await b.waitForEvents(2, roomId);
    await sleep(200);
    expect(b.events(roomId).map((e) => e.message.content.text)).toEqual(['once', 'next']);
    expect(await rowsOf(roomId)).toBe(2);
  });

  it('stores one message for the same temp_id sent at once over two connections, or twice in one pipeline', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom(system.sql, [alice]);
    const a1 = await connect(alice, roomId);
    const a2 = await connect(alice, roomId);
    for (let i = 0; i < 20; i++) {
      const temp_id = `race-${i}`;
      const replies = await Promise.all([
        a1.request({ op: 'send', room_id: roomId, content: { i }, temp_id }),
        a2.request({ op: 'send', room_id: roomId, content: { i }, temp_id }),
        a1.request({ op: 'send', room_id: roomId, content: { i }, temp_id }),
      ]);
      expect(
        replies.every((r) => r.success),
        JSON.stringify(replies),
      ).toBe(true);
      expect(new Set(replies.map((r) => r.message_id)).size, `round ${i}`).toBe(1);
    }
    expect(await rowsOf(roomId)).toBe(20);
    const seqs = (await system.sql<{ seq: number }[]>`SELECT seq FROM arcyou_chat_messages WHERE room_id = ${roomId} ORDER BY seq`).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1)); // no seq drawn for a duplicate
  });

  it('finds a key committed by another batch after its snapshot was taken, and stores nothing twice', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom(system.sql, [alice]);
    const [b, c] = [createSql(system.db.url, { max: 1 }), createSql(system.db.url, { max: 1 })];
    const send = (sql: typeof b) =>
      insertMessages(sql, [{ roomId, userId: alice, content: {}, extra: {}, clientKey: 'late' }], { fastPathOwner: null, fastLockSeconds: 5, notify: false });
    try {
      // Both batches take their snapshots while the room is locked, then go one after the other.
      const [first, second] = await system.sql.begin(async (tx) => {
        await tx`SELECT 1 FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
        const pending = [send(b), send(c)];
        await sleep(200);
        return [pending[0]!, pending[1]!];
      });
      const results = [(await first)[0]!, (await second)[0]!];
      expect(results[0]!.id).toBe(results[1]!.id);
      expect(results.filter((r) => r.earlier)).toHaveLength(1);
      expect(await rowsOf(roomId)).toBe(1);
    } finally {
      await Promise.all([b.end(), c.end()]);
    }
  });

  it('keeps the key per sender and room, and tells 1 from "1"', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const otherRoom = await createRoom(system.sql, [alice]);
    const a = await connect(alice, roomId);
    const b = await connect(bob, roomId);
    await a.request({ op: 'join', room_id: otherRoom });
    const ids = [
      (await a.request({ op: 'send', room_id: roomId, content: {}, temp_id: 'k' })).message_id,
      (await b.request({ op: 'send', room_id: roomId, content: {}, temp_id: 'k' })).message_id,
      (await a.request({ op: 'send', room_id: otherRoom, content: {}, temp_id: 'k' })).message_id,
      (await a.request({ op: 'send', room_id: roomId, content: {}, temp_id: 1 })).message_id,
      (await a.request({ op: 'send', room_id: roomId, content: {}, temp_id: '1' })).message_id,
    ];
    expect(new Set(ids).size).toBe(5);
    // Without a temp_id every send is its own message.
    const plain = [
      (await a.request({ op: 'send', room_id: roomId, content: {} })).message_id,
      (await a.request({ op: 'send', room_id: roomId, content: {} })).message_id,
    ];
    expect(plain[0]).not.toBe(plain[1]);
  });

  it('refuses a retry from a sender who is no longer a member', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice, roomId);
    expect((await a.request({ op: 'send', room_id: roomId, content: {}, temp_id: 'gone' })).success).toBe(true);
    await system.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${alice}`;
    expect(await a.request({ op: 'send', room_id: roomId, content: {}, temp_id: 'gone' })).toMatchObject({ success: false });
  });
});
