// The server API's rooms and members over real HTTP, with real WebSocket clients watching
// the events it sends to a room (README: Chat API).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser } from './support/fixtures';
import { clientPool } from './support/client-pool';
import { apiCaller, type ApiReply as Reply } from './support/http-api';
import { startSystem, type TestSystem } from './support/system';

const KEYS = ['key-being-retired', 'key-now-in-use'];

const api = (port: number, key: string | null = KEYS[1]!) => apiCaller(port, key);

describe('server API: rooms and members', () => {
  let system: TestSystem;
  let call: ReturnType<typeof api>;
  const clients = clientPool();
  const member = (userId: string, roomId: string) => clients.member(system.port, userId, roomId);
  const roomCount = async () => (await system.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_rooms`)[0]!.n;
  const newRoom = async (members: string[], name = 'a room') => {
    const reply = await call('POST', '/v1/rooms', { name, members: members.map((user_id) => ({ user_id })) });
    expect(reply.status).toBe(201);
    return reply.body.room.id as string;
  };

  beforeAll(async () => {
    system = await startSystem({ SERVER_API_KEYS: KEYS.join(','), API_RL_CAPACITY: '100000', MAX_BODY_BYTES: '16384' });
    call = api(system.port);
  });
  afterAll(async () => {
    clients.closeAll();
    await system?.stop();
  });

  it('takes every configured key (rotation) and refuses a missing, malformed or unknown one with 401', async () => {
    for (const key of KEYS) expect((await api(system.port, key)('POST', '/v1/rooms', { name: 'k' })).status).toBe(201);
    for (const [key, header] of [
      [null, undefined],
      ['wrong-key', undefined],
      [null, 'Basic a2V5'],
    ] as const) {
      const reply = await api(system.port, key)('GET', '/v1/rooms/00000000-0000-4000-8000-000000000000', undefined, header ? { authorization: header } : {});
      expect(reply).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
    }
  });

  it('creates a room with its members, who can join at once', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const reply = await call('POST', '/v1/rooms', { name: ' Team ', description: 'plans', members: [{ user_id: alice, role: 'owner' }, { user_id: bob }] });
    expect(reply.status).toBe(201);
    expect(reply.body.room).toMatchObject({ name: 'Team', description: 'plans', last_seq: 0, updated_at: null });
    expect(Object.keys(reply.body.room).sort()).toEqual(['created_at', 'description', 'id', 'last_seq', 'name', 'updated_at']);
    const roomId = reply.body.room.id;
    const a = await member(alice, roomId);
    const b = await member(bob, roomId);
    await a.request({ op: 'send', room_id: roomId, content: { text: 'hi' } });
    await b.waitForEvents(1, roomId);
    const got = await call('GET', `/v1/rooms/${roomId}`);
    expect(got).toMatchObject({ status: 200, body: { room: { id: roomId, name: 'Team', last_seq: 1 }, member_count: 2 } });
  });

  it('creates a room with a given id once: the same id again is 409 and changes nothing', async () => {
    const id = newUser();
    expect((await call('POST', '/v1/rooms', { id, name: 'first' })).status).toBe(201);
    const again = await call('POST', '/v1/rooms', { id, name: 'second', members: [{ user_id: newUser() }] });
    expect(again).toMatchObject({ status: 409, body: { error: 'conflict' } });
    expect((await call('GET', `/v1/rooms/${id}`)).body).toMatchObject({ room: { name: 'first' }, member_count: 0 });
  });

  it('refuses bad input with 400 (or 413/415) and a stable error, and creates nothing', async () => {
    const before = await roomCount();
    const u = newUser();
    const cases: Array<[unknown, number, string | RegExp]> = [
      [{}, 400, /^name: /],
      [{ name: '' }, 400, /^name: /],
      [{ name: 'x'.repeat(201) }, 400, /^name: /],
      [{ name: 'x', id: 'not-a-uuid' }, 400, /^id: /],
      [{ name: 'x', members: [{ user_id: u }, { user_id: u.toUpperCase() }] }, 400, /^members: lists a user twice/],
      [{ name: 'x', members: [{ user_id: u, role: 'admin' }] }, 400, /^members\.0\.role: /],
      [{ name: 'x', surprise: true }, 400, /surprise/],
      [[1, 2], 400, /./],
      ['{"name": ', 400, 'body is not valid JSON'],
      [{ name: 'x', description: 'y'.repeat(20_000) }, 413, /16384/],
    ];
    for (const [body, status, detail] of cases) {
      const reply = await call('POST', '/v1/rooms', body);
      expect(reply.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(reply.body.error).toBe(status === 400 ? 'invalid_request' : 'payload_too_large');
      if (typeof detail === 'string') expect(reply.body.detail).toBe(detail);
      else expect(reply.body.detail).toMatch(detail);
    }
    const form = await call('POST', '/v1/rooms', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form).toMatchObject({ status: 415, body: { error: 'unsupported_media_type' } });
    expect(await roomCount()).toBe(before);
  });

  it('answers unknown rooms with 404, malformed ids with 400, unknown paths with 404 and other methods with 405', async () => {
    const missing = newUser();
    expect(await call('GET', `/v1/rooms/${missing}`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('PATCH', `/v1/rooms/${missing}`, { name: 'x' })).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('GET', `/v1/rooms/${missing}/members`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('PUT', `/v1/rooms/${missing}/members/${newUser()}`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('DELETE', `/v1/rooms/${missing}/members/${newUser()}`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('GET', '/v1/rooms/42')).toMatchObject({ status: 400, body: { error: 'invalid_request', detail: 'room_id must be a UUID' } });
    expect(await call('GET', '/v1/nothing-here')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('DELETE', '/v1/rooms')).toMatchObject({ status: 405, body: { error: 'method_not_allowed' } });
  });

  it('renames a room: members get room.updated, placed after the messages before it', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await newRoom([alice, bob], 'old name');
    const a = await member(alice, roomId);
    const b = await member(bob, roomId);
    await a.request({ op: 'send', room_id: roomId, content: { text: 'before' } });
    const reply = await call('PATCH', `/v1/rooms/${roomId}`, { name: 'new name', description: null });
    expect(reply).toMatchObject({ status: 200, body: { room: { id: roomId, name: 'new name', description: null, last_seq: 1 } } });
    expect(reply.body.room.updated_at).not.toBeNull();
    await a.request({ op: 'send', room_id: roomId, content: { text: 'after' } });
    const events = await b.waitForEvents(3, roomId);
    expect(events.map((e) => e.type)).toEqual(['message.created', 'room.updated', 'message.created']);
    expect(events[1]).toMatchObject({ seq: 1, data: { room: { id: roomId, name: 'new name', description: null } } });
    expect(await call('PATCH', `/v1/rooms/${roomId}`, {})).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', detail: 'give name or description' },
    });
  });

  it('lists members a page at a time by cursor, each once', async () => {
    const users = Array.from({ length: 120 }, newUser);
    const roomId = await newRoom(users);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const reply: Reply = await call('GET', `/v1/rooms/${roomId}/members?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      expect(reply.status).toBe(200);
      seen.push(...reply.body.members.map((m: { user_id: string }) => m.user_id));
      expect(reply.body.members[0]).toMatchObject({ role: 'participant', last_read_message_id: null });
      cursor = reply.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...users].sort());
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'cursor=bogus']) {
      expect((await call('GET', `/v1/rooms/${roomId}/members?${query}`)).body.error, query).toBe('invalid_request');
    }
  });

  it('adds a member (member.added), who can join at once; changes a role (member.updated); an unchanged PUT sends nothing', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await newRoom([alice]);
    const a = await member(alice, roomId);
    const added = await call('PUT', `/v1/rooms/${roomId}/members/${bob}`);
    expect(added).toMatchObject({ status: 201, body: { member: { user_id: bob, role: 'participant' } } });
    const b = await member(bob, roomId);
    expect((await call('PUT', `/v1/rooms/${roomId}/members/${bob}`, { role: 'manager' })).body.member.role).toBe('manager');
    expect(await call('PUT', `/v1/rooms/${roomId}/members/${bob}`, { role: 'manager' })).toMatchObject({ status: 200 });
    expect((await call('PUT', `/v1/rooms/${roomId}/members/${bob}`)).body.member.role).toBe('manager');
    await b.request({ op: 'send', room_id: roomId, content: { text: 'joined' } });
    const events = await a.waitForEvents(3, roomId);
    expect(events.map((e) => e.type)).toEqual(['member.added', 'member.updated', 'message.created']);
    expect(events[0]).toMatchObject({ seq: 0, data: { user_id: bob, role: 'participant' } });
    expect(events[1]).toMatchObject({ seq: 0, data: { user_id: bob, role: 'manager' } });
    expect((await call('PUT', `/v1/rooms/${roomId}/members/${bob}`, { role: 'chief' })).body.error).toBe('invalid_request');
  });

  it('removes a member: 204, its socket gets member.removed and nothing after; restoring adds it again', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await newRoom([alice, bob]);
    const a = await member(alice, roomId);
    const b = await member(bob, roomId);
    expect(await call('DELETE', `/v1/rooms/${roomId}/members/${bob}`)).toMatchObject({ status: 204, body: null });
    await b.waitFor((f) => f.type === 'member.removed' && f.data?.user_id === bob);
    await a.request({ op: 'send', room_id: roomId, content: { text: 'not for bob' } });
    await a.waitForEvents(2, roomId);
    expect(await call('DELETE', `/v1/rooms/${roomId}/members/${bob}`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const rejoin = await b.request({ op: 'join', room_id: roomId });
    expect(rejoin.success).toBe(false);
    expect(b.events(roomId).some((e) => e.type === 'message.created')).toBe(false);
    expect(await call('PUT', `/v1/rooms/${roomId}/members/${bob}`)).toMatchObject({ status: 201 });
    expect((await b.request({ op: 'join', room_id: roomId })).success).toBe(true);
    expect((await call('GET', `/v1/rooms/${roomId}`)).body.member_count).toBe(2);
  });
});

describe('server API: messages written by the backend', () => {
  let system: TestSystem;
  let call: ReturnType<typeof api>;
  const clients = clientPool();
  beforeAll(async () => {
    system = await startSystem({ SERVER_API_KEYS: KEYS.join(','), API_RL_CAPACITY: '100000' });
    call = api(system.port);
  });
  afterAll(async () => {
    clients.closeAll();
    await system?.stop();
  });

  it('stores a message as a member, through the same path as a send: members get it live, in seq order', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = (await call('POST', '/v1/rooms', { name: 'r', members: [{ user_id: alice }, { user_id: bob }] })).body.room.id;
    const b = await clients.member(system.port, bob, roomId);
    const a = await clients.member(system.port, alice, roomId);
    await a.request({ op: 'send', room_id: roomId, content: { text: 'from the socket' } });
    const posted = await call('POST', `/v1/rooms/${roomId}/messages`, { user_id: alice, type: 'system', content: { text: 'alice joined the project' } });
    expect(posted).toMatchObject({ status: 201, body: { message: { seq: 2, user_id: alice, type: 'system', content: { text: 'alice joined the project' } } } });
    const events = await b.waitForEvents(2, roomId);
    expect(events.map((e) => [e.message.seq, e.message.type])).toEqual([
      [1, 'text'],
      [2, 'system'],
    ]);
    const history = await call('GET', `/v1/rooms/${roomId}/messages`);
    expect(history.body.messages.map((m: any) => m.type)).toEqual(['text', 'system']);
  });

  it('returns the first result for a retry with the same Idempotency-Key, and stores it once', async () => {
    const [alice] = [newUser()];
    const roomId = (await call('POST', '/v1/rooms', { name: 'r', members: [{ user_id: alice }] })).body.room.id;
    const post = () =>
      call('POST', `/v1/rooms/${roomId}/messages`, { user_id: alice, content: { text: 'once' } }, { 'idempotency-key': 'order-4711-confirmed' });
    const replies = await Promise.all([post(), post(), post()]);
    replies.push(await post());
    expect(replies.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(replies.map((r) => r.body.message.id)).size).toBe(1);
    const other = await call(
      'POST',
      `/v1/rooms/${roomId}/messages`,
      { user_id: alice, content: { text: 'another' } },
      { 'idempotency-key': 'order-4712-confirmed' },
    );
    expect(other.body.message.seq).toBe(2);
    expect((await call('GET', `/v1/rooms/${roomId}/messages`)).body.messages.map((m: any) => m.content.text)).toEqual(['once', 'another']);
  });

  it('refuses a user who is not a member, bad content or key, and a user token', async () => {
    const [alice, mallory] = [newUser(), newUser()];
    const roomId = (await call('POST', '/v1/rooms', { name: 'r', members: [{ user_id: alice }] })).body.room.id;
    const path = `/v1/rooms/${roomId}/messages`;
    expect(await call('POST', path, { user_id: mallory, content: { text: 'x' } })).toMatchObject({ status: 403, body: { error: 'Forbidden: not a member' } });
    for (const body of [
      { user_id: alice },
      { user_id: alice, content: 'text' },
      { user_id: alice, content: {}, type: 'image' },
      { user_id: 'x', content: {} },
    ]) {
      expect((await call('POST', path, body)).body.error, JSON.stringify(body)).toBe('invalid_request');
    }
    expect(await call('POST', path, { user_id: alice, content: {} }, { 'idempotency-key': 'x'.repeat(129) })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(await api(system.port, alice)('POST', path, { user_id: alice, content: {} })).toMatchObject({
      status: 403,
      body: { error: 'Forbidden: not allowed' },
    });
    expect(await call('POST', `/v1/rooms/${newUser()}/messages`, { user_id: alice, content: {} })).toMatchObject({ status: 403 });
    expect((await call('GET', path)).body.messages).toEqual([]);
  });

  it('answers 503 "message ids exhausted" once message ids reached 2^53 − 1, as a WebSocket send does, and stores nothing', async () => {
    const [alice] = [newUser()];
    const roomId = (await call('POST', '/v1/rooms', { name: 'r', members: [{ user_id: alice }] })).body.room.id;
    const path = `/v1/rooms/${roomId}/messages`;
    const a = await clients.member(system.port, alice, roomId);
    // The last id there is has been taken: the next nextval fails with SQLSTATE 2200H.
    await system.sql`SELECT setval('arcyou_chat_messages_id_seq', ${Number.MAX_SAFE_INTEGER})`;
    try {
      const reply = await call('POST', path, { user_id: alice, content: { text: 'past the last id' } });
      expect(reply).toEqual({ status: 503, body: { error: 'unavailable', detail: 'message ids exhausted' } });
      const sent = await a.request({ op: 'send', room_id: roomId, content: { text: 'past the last id' } });
      expect(sent).toMatchObject({ success: false, error: reply.body.error, detail: reply.body.detail });
      expect((await call('GET', path)).body.messages).toEqual([]);
    } finally {
      await system.sql`SELECT setval('arcyou_chat_messages_id_seq', (SELECT coalesce(max(id), 1) FROM arcyou_chat_messages))`;
    }
    // Ids available again: the same request stores it.
    expect(await call('POST', path, { user_id: alice, content: { text: 'after' } })).toMatchObject({ status: 201, body: { message: { seq: 1 } } });
  });
});

describe('server API: off, and rate limited', () => {
  let off: TestSystem;
  let limited: TestSystem;
  beforeAll(async () => {
    [off, limited] = await Promise.all([
      startSystem({}, { worker: false }),
      startSystem({ SERVER_API_KEYS: 'k', API_RL_CAPACITY: '3', API_RL_REFILL_MS: '600000' }, { worker: false }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([off?.stop(), limited?.stop()]);
  });

  it('is off without SERVER_API_KEYS: every request is 401', async () => {
    expect(await api(off.port, '')('POST', '/v1/rooms', { name: 'x' })).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
    expect(await api(off.port, 'anything')('POST', '/v1/rooms', { name: 'x' })).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
  });

  it('answers 429 once a key has used its budget', async () => {
    const call = api(limited.port, 'k');
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await call('POST', '/v1/rooms', { name: `r${i}` })).status);
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    expect((await call('POST', '/v1/rooms', { name: 'x' })).body).toEqual({ error: 'rate_limited' });
  });
});
