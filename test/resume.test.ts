// The seq side of the protocol over real sockets: sends and events carry seq, the join
// reply tells where the room stands, and `after_seq` resumes exactly where a client is.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoom, newUser } from './support/fixtures';
import { apiCaller } from './support/http-api';
import { plansOf } from './support/plans';
import { loadMemberPage } from '../gateway/sql/member-page';
import { loadRoomGap } from '../gateway/sql/room-gap';
import { startSystem, type TestSystem } from './support/system';
import { TestClient, type Frame } from './support/ws-client';

const seqsOf = (events: Frame[]) => events.filter((e) => e.type === 'message.created').map((e) => e.message.seq as number);

describe('resuming by seq', () => {
  let system: TestSystem;
  const clients: TestClient[] = [];
  const connect = async (userId: string) => {
    const client = await TestClient.connect(system.port);
    clients.push(client);
    await client.login(userId);
    return client;
  };
  const sendMany = async (client: TestClient, roomId: string, count: number) => {
    const replies = [];
    for (let i = 0; i < count; i++) replies.push(await client.request({ op: 'send', room_id: roomId, content: { i } }));
    return replies;
  };

  beforeAll(async () => {
    system = await startSystem({ BACKFILL_LIMIT: '5', RL_BUCKET_CAPACITY: '10000', RL_REFILL_MS: '1000', SERVER_API_KEYS: 'resume-key' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await system.stop();
  });

  it('numbers a room 1, 2, 3, … in sends and in the events every member gets', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice);
    const b = await connect(bob);
    expect(await a.request({ op: 'join', room_id: roomId })).toMatchObject({ success: true, last_seq: 0, has_more: false });
    await b.request({ op: 'join', room_id: roomId });
    const replies = await sendMany(a, roomId, 4);
    expect(replies.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    await b.waitForEvents(4, roomId);
    expect(seqsOf(b.events(roomId))).toEqual([1, 2, 3, 4]);
    expect(b.events(roomId).map((e) => e.message.id)).toEqual(replies.map((r) => r.message_id));
  });

  it('resumes exactly after after_seq: backfill of what came after it, then live', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice);
    await a.request({ op: 'join', room_id: roomId });
    await sendMany(a, roomId, 4);

    const b = await connect(bob);
    const join = await b.request({ op: 'join', room_id: roomId, after_seq: 2 });
    expect(join).toMatchObject({ success: true, room_id: roomId, last_seq: 4, has_more: false });
    await b.waitForEvents(2, roomId);
    expect(b.events(roomId).map((e) => [e.message.seq, e.source])).toEqual([
      [3, 'backfill'],
      [4, 'backfill'],
    ]);
    // The join reply comes before any event of the room.
    expect(b.frames.findIndex((f) => f.op === 'join')).toBeLessThan(b.frames.findIndex((f) => f.op === 'event'));

    await sendMany(a, roomId, 1);
    await b.waitForEvents(3, roomId);
    expect(b.events(roomId).map((e) => [e.message.seq, e.source])).toEqual([
      [3, 'backfill'],
      [4, 'backfill'],
      [5, 'live'],
    ]);
  });

  const traceOf = (events: Frame[]) => events.map((e) => (e.type === 'message.created' ? e.message.seq : `${e.type}@${e.seq}`));

  it('resumes with the edits, deletes and room and member changes (removals too) made while it was away, in place among the messages, each once', async () => {
    const [alice, bob, carol, dave] = [newUser(), newUser(), newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob, dave]);
    const call = apiCaller(system.port, 'resume-key');
    const a = await connect(alice);
    await a.request({ op: 'join', room_id: roomId });
    const sent = await sendMany(a, roomId, 3);
    const away = await connect(bob);
    await away.request({ op: 'join', room_id: roomId });
    await away.waitForEvents(3, roomId);
    away.close();

    expect(await a.request({ op: 'edit', room_id: roomId, message_id: sent[0]!.message_id, content: { text: 'edited' } })).toMatchObject({ success: true });
    await sendMany(a, roomId, 1); // 4
    expect(await a.request({ op: 'delete', room_id: roomId, message_id: sent[1]!.message_id })).toMatchObject({ success: true });
    expect((await call('PATCH', `/v1/rooms/${roomId}`, { name: 'renamed' })).status).toBe(200);
    expect((await call('PUT', `/v1/rooms/${roomId}/members/${carol}`)).status).toBe(201);
    expect((await call('DELETE', `/v1/rooms/${roomId}/members/${dave}`)).status).toBe(204);
    await sendMany(a, roomId, 1); // 5

    const back = await connect(bob);
    expect(await back.request({ op: 'join', room_id: roomId, after_seq: 3 })).toMatchObject({ success: true, last_seq: 5, has_more: false });
    const events = await back.waitForEvents(7, roomId);
    expect(traceOf(events)).toEqual(['message.updated@3', 4, 'message.deleted@4', 'room.updated@4', 'member.added@4', 'member.removed@4', 5]);
    expect(events[5]).toMatchObject({ data: { user_id: dave } });
    expect(events[0]).toMatchObject({ data: { message: { id: sent[0]!.message_id, content: { text: 'edited' } } } });
    expect(events[2]).toMatchObject({ data: { message_id: sent[1]!.message_id } });
    expect(events[3]).toMatchObject({ data: { room: { name: 'renamed' } } });
    expect(events[4]).toMatchObject({ data: { user_id: carol } });
    // Then live, and nothing of the above again.
    await a.request({ op: 'edit', room_id: roomId, message_id: sent[2]!.message_id, content: { text: 'edited too' } });
    await sendMany(a, roomId, 1);
    await back.waitForEvents(9, roomId);
    await sleep(300);
    expect(traceOf(back.events(roomId)).slice(7)).toEqual(['message.updated@5', 6]);
  });

  it('with has_more, the changes placed past the backfill come after it (the client reads those messages from history)', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice);
    await a.request({ op: 'join', room_id: roomId });
    const sent = await sendMany(a, roomId, 12);
    expect(await a.request({ op: 'edit', room_id: roomId, message_id: sent[0]!.message_id, content: { text: 'edited' } })).toMatchObject({ success: true });
    await sendMany(a, roomId, 1); // 13
    const b = await connect(bob);
    expect(await b.request({ op: 'join', room_id: roomId, after_seq: 1 })).toMatchObject({ success: true, last_seq: 13, has_more: true });
    const events = await b.waitForEvents(6, roomId);
    expect(traceOf(events)).toEqual([2, 3, 4, 5, 6, 'message.updated@12']);
    await sleep(300);
    expect(b.events(roomId)).toHaveLength(6);
  });

  it('reads the events placed in a stretch by place, through their index, in a room with many events', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom(system.sql, [alice]);
    const [member] = await system.sql<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId}`;
    await system.sql.begin(async (tx) => {
      await tx`SET LOCAL session_replication_role = replica`; // rows only: no triggers for this setup
      await tx`
        INSERT INTO outbox (type, room_id, payload, status)
        SELECT 'room.updated', ${roomId}, jsonb_build_object('seq', g / 4), 'published' FROM generate_series(1, 20000) g`;
    });
    await system.sql`ANALYZE outbox`;
    const plans = await plansOf(system.db.url, async (sql) => {
      const page = await loadMemberPage(sql, roomId, alice, member!.membership_id, 4000, 4010, 100, { seq: 4000, id: 0 });
      expect(page.events.map((e) => (e.payload as { seq: number }).seq)).toEqual(
        Array(4)
          .fill(4000)
          .concat(
            Array(40)
              .fill(0)
              .map((_, i) => 4001 + Math.floor(i / 4)),
          ),
      );
      await loadRoomGap(sql, roomId, 4990, null, [], 100);
    });
    const reads = plans.filter((p) => p.includes('outbox o'));
    expect(reads.length).toBeGreaterThanOrEqual(2);
    for (const plan of reads) {
      expect(plan).toContain('outbox_room_event_places_idx');
      expect(plan).not.toMatch(/Seq Scan on outbox/);
    }
  });

  it("a gap read names an ended membership's removal event, and a joiner's page leaves out its own user's removals", async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const [before] = await system.sql<
      { membership_id: number }[]
    >`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    await system.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
    await system.sql`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${bob}`; // added again: a new membership
    const [removal] = await system.sql<{ id: number }[]>`SELECT id FROM outbox WHERE room_id = ${roomId} AND type = 'member.removed'`;
    const gap = await loadRoomGap(system.sql, roomId, 0, null, [{ userId: bob, membershipId: before!.membership_id }], 100);
    expect(gap.ended).toEqual([{ userId: bob, membershipId: before!.membership_id, removedAfterSeq: 0, eventId: removal!.id }]);
    expect(gap.events.map((e) => [e.id, e.type])).toEqual([[removal!.id, 'member.removed']]);
    const [now] = await system.sql<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${bob}`;
    expect((await loadMemberPage(system.sql, roomId, bob, now!.membership_id, 0, 0, 100, { seq: 0, id: 0 })).events).toEqual([]);
    const [ofAlice] = await system.sql<
      { membership_id: number }[]
    >`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${alice}`;
    expect((await loadMemberPage(system.sql, roomId, alice, ofAlice!.membership_id, 0, 0, 100, { seq: 0, id: 0 })).events.map((e) => e.id)).toEqual([
      removal!.id,
    ]);
  });

  it('says has_more when the backfill stopped at BACKFILL_LIMIT, and goes live after last_seq', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice);
    await a.request({ op: 'join', room_id: roomId });
    await sendMany(a, roomId, 12);

    const b = await connect(bob);
    expect(await b.request({ op: 'join', room_id: roomId })).toMatchObject({ success: true, after_seq: 0, last_seq: 12, has_more: true });
    await b.waitForEvents(5, roomId);
    await sendMany(a, roomId, 1);
    await b.waitForEvents(6, roomId);
    expect(seqsOf(b.events(roomId))).toEqual([1, 2, 3, 4, 5, 13]);

    // Paging on: join again after the last seq it has.
    const again = await b.request({ op: 'join', room_id: roomId, after_seq: 5 });
    expect(again).toMatchObject({ success: true, after_seq: 5, last_seq: 13, has_more: true });
    await b.waitForEvents(11, roomId);
    expect(seqsOf(b.events(roomId)).slice(6)).toEqual([6, 7, 8, 9, 10]);
  });

  it('starts after the read position without after_seq, and takes an after_seq past the end as the end', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice);
    await a.request({ op: 'join', room_id: roomId });
    const sent = await sendMany(a, roomId, 3);
    const b = await connect(bob);
    await b.request({ op: 'join', room_id: roomId });
    await b.waitForEvents(3, roomId);
    await b.request({ op: 'ack', room_id: roomId, last_read_message_id: sent[1]!.message_id });

    const c = await connect(bob);
    expect(await c.request({ op: 'join', room_id: roomId })).toMatchObject({ after_seq: 2, last_seq: 3, has_more: false });
    await c.waitForEvents(1, roomId);
    expect(seqsOf(c.events(roomId))).toEqual([3]);

    const d = await connect(bob);
    expect(await d.request({ op: 'join', room_id: roomId, after_seq: 1000 })).toMatchObject({ success: true, after_seq: 3, last_seq: 3, has_more: false });
    await sendMany(a, roomId, 1);
    await d.waitForEvents(1, roomId);
    expect(seqsOf(d.events(roomId))).toEqual([4]);
  });

  it('leaves a deleted message out of the backfill, keeping the numbers of the others', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice);
    await a.request({ op: 'join', room_id: roomId });
    const sent = await sendMany(a, roomId, 3);
    await system.sql`UPDATE arcyou_chat_messages SET deleted_at = now() WHERE id = ${sent[1]!.message_id}`;
    const b = await connect(bob);
    await b.request({ op: 'join', room_id: roomId, after_seq: 0 });
    await sendMany(a, roomId, 1);
    await b.waitForEvents(3, roomId);
    expect(seqsOf(b.events(roomId))).toEqual([1, 3, 4]);
  });

  it('refuses an after_seq that is not a non-negative integer, changing nothing', async () => {
    const alice = newUser();
    const roomId = await createRoom(system.sql, [alice]);
    const a = await connect(alice);
    for (const after_seq of [-1, 1.5, 'x', '12a', null, {}, 2 ** 53]) {
      expect(await a.request({ op: 'join', room_id: roomId, after_seq })).toMatchObject({ op: 'join', success: false, error: 'invalid_request' });
    }
    expect(await a.request({ op: 'join', room_id: roomId, after_seq: '0' })).toMatchObject({ success: true });
  });
});
