// Two or more real WebSocket clients chatting through the gateway, PostgreSQL, the
// chat worker and Redis (README: WebSocket protocol).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

for (const mode of ['global', 'perconv'] as const) {
  describe(`chat (PUBSUB_MODE=${mode})`, () => {
    let system: TestSystem;
    const clients: TestClient[] = [];
    const connect = async () => {
      const client = await TestClient.connect(system.port);
      clients.push(client);
      return client;
    };

    beforeAll(async () => {
      system = await startSystem({ PUBSUB_MODE: mode });
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await system.stop();
    });

    it('delivers a message to the other member live, and to no one outside the room', async () => {
      const [alice, bob, carol] = [newUser(), newUser(), newUser()];
      const roomId = await createRoom(system.sql, [alice, bob]);
      const otherRoom = await createRoom(system.sql, [carol]);
      const a = await connect();
      const b = await connect();
      const c = await connect();
      await a.login(alice, roomId);
      await b.login(bob, roomId);
      await c.login(carol, otherRoom);

      const ackReply = await a.request({ op: 'send', room_id: roomId, content: { text: 'hello' }, temp_id: 'tmp-1' });
      expect(ackReply).toMatchObject({ op: 'send', success: true, temp_id: 'tmp-1' });
      expect(typeof ackReply.message_id).toBe('number');

      const event = await b.waitFor((f) => f.op === 'event' && f.message?.id === ackReply.message_id);
      expect(event).toMatchObject({
        op: 'event',
        type: 'message.created',
        roomId,
        source: 'live',
        message: { id: ackReply.message_id, user_id: alice, content: { text: 'hello' }, temp_id: 'tmp-1' },
      });
      expect(typeof event.message.created_at).toBe('string');
      expect(typeof event.timestamp).toBe('string');
      await a.waitFor((f) => f.op === 'event' && f.message?.id === ackReply.message_id);

      // Carol is in another room on the same gateway: she gets nothing of this room.
      await c.request({ op: 'send', room_id: otherRoom, content: { text: 'marker' } });
      await c.waitFor((f) => f.op === 'event' && f.message?.content?.text === 'marker');
      expect(c.events(roomId)).toHaveLength(0);
    });

    it('accepts the older protocol aliases conversation_id and body', async () => {
      const [alice, bob] = [newUser(), newUser()];
      const roomId = await createRoom(system.sql, [alice, bob]);
      const a = await connect();
      const b = await connect();
      await a.login(alice);
      expect(await a.request({ op: 'join', conversation_id: roomId })).toMatchObject({ success: true, room_id: roomId });
      await b.login(bob, roomId);
      const reply = await a.request({ op: 'send', conversation_id: roomId, body: { text: 'old client' } });
      expect(reply.success).toBe(true);
      const event = await b.waitFor((f) => f.op === 'event' && f.message?.id === reply.message_id);
      expect(event.message.content).toEqual({ text: 'old client' });
    });

    it('backfills exactly the unread messages, oldest first, on join after a reconnect', async () => {
      const [alice, bob] = [newUser(), newUser()];
      const roomId = await createRoom(system.sql, [alice, bob]);
      const a = await connect();
      await a.login(alice, roomId);
      const b1 = await connect();
      await b1.login(bob, roomId);
      const first = await a.request({ op: 'send', room_id: roomId, content: { n: 1 } });
      await b1.waitFor((f) => f.message?.id === first.message_id);
      expect(await b1.request({ op: 'ack', room_id: roomId, last_read_message_id: first.message_id })).toMatchObject({ success: true });
      b1.close();
      await b1.closed;

      const missed: number[] = [];
      for (let n = 2; n <= 6; n++) missed.push((await a.request({ op: 'send', room_id: roomId, content: { n } })).message_id);

      const b2 = await connect();
      await b2.login(bob, roomId);
      const backfill = await b2.waitForEvents(5, roomId);
      expect(backfill.map((e) => e.message.id)).toEqual(missed);
      expect(backfill.every((e) => e.source === 'backfill')).toBe(true);
      expect(backfill.map((e) => e.message.content.n)).toEqual([2, 3, 4, 5, 6]);
      // The join reply comes before the backfill.
      const joinIndex = b2.frames.findIndex((f) => f.op === 'join');
      const firstEvent = b2.frames.findIndex((f) => f.op === 'event');
      expect(joinIndex).toBeLessThan(firstEvent);

      // Live events continue after the backfill, with nothing doubled.
      const next = await a.request({ op: 'send', room_id: roomId, content: { n: 7 } });
      await b2.waitFor((f) => f.message?.id === next.message_id);
      const ids = b2.events(roomId).map((e) => e.message.id);
      expect(ids).toEqual([...missed, next.message_id]);
    });

    it('stores a send as one message row and one outbox row, which the gateway publishes and then deletes', async () => {
      const [alice] = [newUser()];
      const roomId = await createRoom(system.sql, [alice]);
      const a = await connect();
      await a.login(alice, roomId);
      const before = await countRows(system.sql);
      const reply = await a.request({ op: 'send', room_id: roomId, content: { text: 'stored' } });
      const [message] = await system.sql`SELECT room_id, user_id, content FROM arcyou_chat_messages WHERE id = ${reply.message_id}`;
      expect(message).toEqual({ room_id: roomId, user_id: alice, content: { text: 'stored' } });
      const [room] = await system.sql`SELECT last_message_id, last_seq FROM arcyou_chat_rooms WHERE id = ${roomId}`;
      expect(room).toEqual({ last_message_id: reply.message_id, last_seq: 1 });
      expect(await countRows(system.sql)).toEqual({ messages: before.messages + 1, outbox: before.outbox + 1 });
      await a.waitFor((f) => f.message?.id === reply.message_id);
      // The fast path (docs/delivery.md): published by this gateway, then its row deleted.
      const deadline = Date.now() + 5000;
      while ((await system.sql`SELECT 1 FROM outbox WHERE room_id = ${roomId}`).length > 0 && Date.now() < deadline) await sleep(10);
      expect(await system.sql`SELECT status FROM outbox WHERE room_id = ${roomId}`).toEqual([]);
    });

    it('moves the read position forward only, and never past the last message', async () => {
      const [alice] = [newUser()];
      const roomId = await createRoom(system.sql, [alice]);
      const a = await connect();
      await a.login(alice, roomId);
      const ids: number[] = [];
      for (let i = 0; i < 3; i++) ids.push((await a.request({ op: 'send', room_id: roomId, content: { i } })).message_id);

      expect(await a.request({ op: 'ack', room_id: roomId, last_read_message_id: ids[1] })).toMatchObject({
        success: true,
        room_id: roomId,
        last_read_message_id: ids[1],
      });
      expect(await a.request({ op: 'ack', room_id: roomId, last_read_message_id: ids[0] })).toMatchObject({ success: true, last_read_message_id: ids[1] });
      expect(await a.request({ op: 'ack', room_id: roomId, last_read_message_id: ids[2]! + 1_000_000 })).toMatchObject({
        success: true,
        last_read_message_id: ids[2],
      });
      const [member] = await system.sql`SELECT last_read_message_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${alice}`;
      expect(member!.last_read_message_id).toBe(ids[2]);
    });

    it('refuses join, send and ack on a room the user is not a member of, and writes nothing', async () => {
      const [alice, mallory] = [newUser(), newUser()];
      const roomId = await createRoom(system.sql, [alice]);
      const m = await connect();
      await m.login(mallory);
      const before = await countRows(system.sql);

      expect(await m.request({ op: 'join', room_id: roomId })).toMatchObject({ op: 'join', success: false, error: 'Forbidden: not a member' });
      expect(await m.request({ op: 'send', room_id: roomId, content: { text: 'intrusion' } })).toMatchObject({ op: 'send', success: false });
      expect(await m.request({ op: 'ack', room_id: roomId, last_read_message_id: 1 })).toMatchObject({ op: 'ack', success: false });

      expect(await countRows(system.sql)).toEqual(before);
      const [member] = await system.sql`SELECT count(*)::int AS n FROM arcyou_chat_members WHERE user_id = ${mallory}`;
      expect(member!.n).toBe(0);
      expect(m.events()).toHaveLength(0);
    });

    it('refuses a member who left (deleted_at set), even on a socket that had joined', async () => {
      const [alice, bob] = [newUser(), newUser()];
      const roomId = await createRoom(system.sql, [alice, bob]);
      const b = await connect();
      await b.login(bob, roomId);
      await system.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
      const before = await countRows(system.sql);
      // The removal's event can reach the gateway before the send does (the socket is then no
      // longer joined); either way the database is not written.
      expect(await b.request({ op: 'send', room_id: roomId, content: { text: 'after leaving' } })).toMatchObject({
        success: false,
        error: expect.stringMatching(/^Forbidden: not (a member|joined)$/),
      });
      expect(await b.request({ op: 'join', room_id: roomId })).toMatchObject({ success: false, error: 'Forbidden: not a member' });
      expect(await countRows(system.sql)).toEqual(before);
    });

    it('stops live events to a member as soon as they are removed, and tells them', async () => {
      const [alice, bob] = [newUser(), newUser()];
      const roomId = await createRoom(system.sql, [alice, bob]);
      const a = await connect();
      const b = await connect();
      await a.login(alice, roomId);
      await b.login(bob, roomId);
      const before = await a.request({ op: 'send', room_id: roomId, content: { text: 'before' } });
      await b.waitFor((f) => f.message?.id === before.message_id);

      await system.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
      const removed = await b.waitFor((f) => f.type === 'member.removed' && f.roomId === roomId);
      expect(removed.data).toEqual({ user_id: bob, membership_id: expect.any(Number) });

      const after = await a.request({ op: 'send', room_id: roomId, content: { text: 'after' } });
      await a.waitFor((f) => f.message?.id === after.message_id);
      await sleep(200);
      expect(b.events(roomId).some((e) => e.message?.id === after.message_id)).toBe(false);
      expect(await b.request({ op: 'ack', room_id: roomId, last_read_message_id: after.message_id })).toMatchObject({ success: false });
    });

    it('refuses send and ack on a room this socket has not joined', async () => {
      const [alice] = [newUser()];
      const roomId = await createRoom(system.sql, [alice]);
      const a = await connect();
      await a.login(alice);
      const before = await countRows(system.sql);
      expect(await a.request({ op: 'send', room_id: roomId, content: { text: 'x' } })).toMatchObject({ success: false, error: 'Forbidden: not joined' });
      expect(await a.request({ op: 'ack', room_id: roomId, last_read_message_id: 1 })).toMatchObject({ success: false, error: 'Forbidden: not joined' });
      expect(await countRows(system.sql)).toEqual(before);
    });

    it('refuses every op but auth before authentication', async () => {
      const [alice] = [newUser()];
      const roomId = await createRoom(system.sql, [alice]);
      const a = await connect();
      const before = await countRows(system.sql);
      for (const body of [
        { op: 'join', room_id: roomId },
        { op: 'send', room_id: roomId, content: { text: 'x' } },
        { op: 'ack', room_id: roomId, last_read_message_id: 1 },
      ]) {
        expect(await a.request(body)).toMatchObject({ op: body.op, success: false, error: 'Unauthorized' });
      }
      expect(await a.request({ op: 'auth', token: 'not-a-uuid' })).toEqual(expect.objectContaining({ op: 'auth', success: false, error: 'Unauthorized' }));
      expect(await countRows(system.sql)).toEqual(before);
    });
  });
}
