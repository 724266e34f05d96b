// The user API over real HTTP: a user's rooms and a room's history, for members only
// (README: Chat API).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessages } from '../gateway/sql/insert-messages';
import { readHistory } from '../gateway/api/sql/history';
import { newUser } from './support/fixtures';
import { plansOf } from './support/plans';
import { startSystem, type TestSystem } from './support/system';
import { clientPool } from './support/client-pool';
import { apiCaller } from './support/http-api';

const KEY = 'history-test-key';

const api = apiCaller;

describe('user API: history and my rooms', () => {
  let system: TestSystem;
  let server: ReturnType<typeof api>;
  const clients = clientPool();
  const createRoom = async (name: string, members: string[]) => {
    const reply = await server('POST', '/v1/rooms', { name, members: members.map((user_id) => ({ user_id })) });
    expect(reply.status).toBe(201);
    return reply.body.room.id as string;
  };
  /** Stores `count` messages the way a send does, in batches. */
  const store = async (roomId: string, userId: string, count: number, from = 1) => {
    for (let n = 0; n < count; n += 200) {
      const batch = Array.from({ length: Math.min(200, count - n) }, (_, i) => ({ roomId, userId, content: { text: `m${from + n + i}` }, extra: {} }));
      await insertMessages(system.sql, batch, { fastPathOwner: null, fastLockSeconds: 5, notify: false });
    }
  };

  beforeAll(async () => {
    system = await startSystem({ SERVER_API_KEYS: KEY, API_RL_CAPACITY: '100000' });
    server = api(system.port, KEY);
  });
  afterAll(async () => {
    clients.closeAll();
    await system?.stop();
  });

  it('pages a large room forward and back by seq with no gap and no repeat, deleted messages left out', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom('big', [alice]);
    await store(roomId, alice, 1234);
    // Single deletions, and a whole page of them (places 601–700).
    await system.sql`UPDATE arcyou_chat_messages SET deleted_at = now() WHERE room_id = ${roomId} AND (seq IN (7, 500, 1234) OR seq BETWEEN 601 AND 700)`;
    const me = api(system.port, alice);
    const texts = (page: any) => page.messages.map((m: any) => m.content.text);

    const forward: string[] = [];
    let after = 0;
    for (;;) {
      const page = await me('GET', `/v1/rooms/${roomId}/messages?after_seq=${after}&limit=100`);
      expect(page.status).toBe(200);
      forward.push(...texts(page.body));
      if (!page.body.has_more) break;
      after = page.body.to_seq;
    }
    const deleted = (n: number) => [7, 500, 1234].includes(n) || (n >= 601 && n <= 700);
    const expected = Array.from({ length: 1234 }, (_, i) => i + 1)
      .filter((n) => !deleted(n))
      .map((n) => `m${n}`);
    expect(forward).toEqual(expected);

    const backward: string[] = [];
    let before: number | null = null;
    for (;;) {
      const page: { body: any } = await me('GET', `/v1/rooms/${roomId}/messages?limit=100${before === null ? '' : `&before_seq=${before}`}`);
      backward.unshift(...texts(page.body));
      if (!page.body.has_more) break;
      before = page.body.from_seq;
    }
    expect(backward).toEqual(expected);

    const latest = await me('GET', `/v1/rooms/${roomId}/messages`);
    expect(latest.body.messages).toHaveLength(49); // the last 50 places, one of them deleted
    expect(latest.body).toMatchObject({ from_seq: 1185, to_seq: 1234, has_more: true });
    expect(latest.body.messages[0]).toMatchObject({ seq: 1185, user_id: alice, content: { text: 'm1185' } });
    expect(Object.keys(latest.body.messages[0]).sort()).toEqual(['content', 'created_at', 'id', 'reply_to_message_id', 'seq', 'type', 'user_id']);
    const between = await me('GET', `/v1/rooms/${roomId}/messages?after_seq=10&before_seq=14`);
    expect(texts(between.body)).toEqual(['m11', 'm12', 'm13']);
    expect(between.body.has_more).toBe(false);
  });

  it('reads a page through the (room_id, seq) index, however large the room', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom('indexed', [alice]);
    await store(roomId, alice, 2000);
    await system.sql`ANALYZE arcyou_chat_messages`;
    const plans = await plansOf(system.db.url, async (sql) => {
      await readHistory(sql, roomId, { afterSeq: null, beforeSeq: 1500 }, 50);
      await readHistory(sql, roomId, { afterSeq: 100, beforeSeq: null }, 50);
    });
    const reads = plans.filter((p) => p.includes('FROM arcyou_chat_messages'));
    expect(reads).toHaveLength(2);
    for (const plan of reads) {
      expect(plan).toContain('arcyou_chat_messages_room_seq_idx');
      expect(plan).not.toMatch(/Seq Scan|Sort/);
    }
  });

  it('lets only active members read: others get 403, a removed member at once; the server key reads any room', async () => {
    const [alice, bob, mallory] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom('private', [alice, bob]);
    await store(roomId, alice, 3);
    expect((await api(system.port, bob)('GET', `/v1/rooms/${roomId}/messages`)).body.messages).toHaveLength(3);
    expect(await api(system.port, mallory)('GET', `/v1/rooms/${roomId}/messages`)).toMatchObject({ status: 403, body: { error: 'Forbidden: not a member' } });
    expect((await server('DELETE', `/v1/rooms/${roomId}/members/${bob}`)).status).toBe(204);
    expect(await api(system.port, bob)('GET', `/v1/rooms/${roomId}/messages`)).toMatchObject({ status: 403, body: { error: 'Forbidden: not a member' } });
    expect((await server('GET', `/v1/rooms/${roomId}/messages`)).body.messages).toHaveLength(3);
    expect(await server('GET', `/v1/rooms/${newUser()}/messages`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    // A user token does not open the server API.
    expect(await api(system.port, alice)('POST', '/v1/rooms', { name: 'x' })).toMatchObject({ status: 403, body: { error: 'Forbidden: not allowed' } });
    expect(await api(system.port, 'not-a-token')('GET', `/v1/rooms/${roomId}/messages`)).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
  });

  it('refuses bad paging parameters with 400', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom('params', [alice]);
    const me = api(system.port, alice);
    for (const query of ['limit=0', 'limit=101', 'after_seq=-1', 'before_seq=x', 'after_seq=5&before_seq=5', 'after_seq=1e3']) {
      expect(await me('GET', `/v1/rooms/${roomId}/messages?${query}`), query).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    }
  });

  it('lists my rooms, most recent activity first, with read position, unread count and last message', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const quiet = await createRoom('quiet', [alice, bob]);
    const busy = await createRoom('busy', [alice, bob]);
    await createRoom('not mine', [bob]);
    const a = await clients.member(system.port, alice, quiet);
    const b = await clients.member(system.port, bob, busy);
    await b.request({ op: 'join', room_id: quiet });
    await b.request({ op: 'send', room_id: quiet, content: { text: 'q1' } });
    const sent = [];
    for (const text of ['b1', 'b2', 'b3']) sent.push((await b.request({ op: 'send', room_id: busy, content: { text } })).message_id);
    await a.request({ op: 'join', room_id: busy });
    await a.request({ op: 'ack', room_id: busy, last_read_message_id: sent[0] });

    const mine = await api(system.port, alice)('GET', '/v1/me/rooms');
    expect(mine.status).toBe(200);
    expect(mine.body.rooms.map((r: any) => r.room.name)).toEqual(['busy', 'quiet']);
    expect(mine.body.rooms[0]).toMatchObject({
      role: 'participant',
      last_read_message_id: sent[0],
      unread_count: 2,
      last_message: { id: sent[2], content: { text: 'b3' } },
    });
    expect(mine.body.rooms[1]).toMatchObject({ last_read_message_id: null, unread_count: 1, last_message: { content: { text: 'q1' } } });
    // Bob's own messages are not unread to him.
    const bobs = await api(system.port, bob)('GET', '/v1/me/rooms');
    expect(bobs.body.rooms.find((r: any) => r.room.id === busy).unread_count).toBe(0);
    expect(await server('GET', '/v1/me/rooms')).toMatchObject({ status: 403, body: { error: 'Forbidden: not allowed' } });
  });
});
