// The seq side of the protocol over real sockets: sends and events carry seq, the join
// reply tells where the room stands, and `after_seq` resumes exactly where a client is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoom, newUser } from './support/fixtures';
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
    system = await startSystem({ BACKFILL_LIMIT: '5', RL_BUCKET_CAPACITY: '10000', RL_REFILL_MS: '1000' });
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
