// Bad input over a real socket (README: WebSocket protocol): a clear error reply, no crash, no stack
// trace, no row written, and other clients unaffected.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

describe('bad input', () => {
  let system: TestSystem;
  let roomId: string;
  let client: TestClient;
  const alice = newUser();

  beforeAll(async () => {
    system = await startSystem({ RL_BUCKET_CAPACITY: '10000' }, { worker: false });
    roomId = await createRoom(system.sql, [alice]);
    client = await TestClient.connect(system.port);
    await client.login(alice, roomId);
  });
  afterAll(async () => {
    client.close();
    await system.stop();
  });

  const cases: Array<[string, string, string]> = [
    ['malformed JSON', '{"op":"send",', 'invalid_json'],
    ['a JSON array', '[1,2,3]', 'invalid_request'],
    ['a JSON string', '"hello"', 'invalid_request'],
    ['an empty frame', '', 'invalid_json'],
    ['an unknown op', '{"op":"delete_everything"}', 'unknown_op'],
    ['a prototype op', '{"op":"constructor"}', 'unknown_op'],
    ['a missing op', '{"room_id":"x"}', 'unknown_op'],
    ['a non-UUID room id', '{"op":"join","room_id":"1 OR 1=1"}', 'invalid_request'],
    ['a numeric room id', '{"op":"send","room_id":12,"content":{}}', 'invalid_request'],
    ['content that is a string', `{"op":"send","room_id":"ROOM","content":"hi"}`, 'invalid_request'],
    ['content that is null', `{"op":"send","room_id":"ROOM","content":null}`, 'invalid_request'],
    ['a negative message id', `{"op":"ack","room_id":"ROOM","last_read_message_id":-5}`, 'invalid_request'],
    ['a huge message id', `{"op":"ack","room_id":"ROOM","last_read_message_id":1e999}`, 'invalid_request'],
    ['a message id that is an object', `{"op":"ack","room_id":"ROOM","last_read_message_id":{"$gt":0}}`, 'invalid_request'],
    ['a token that is not a string', '{"op":"auth","token":{"sub":"x"}}', 'invalid_request'],
    ['deeply nested content', `{"op":"send","room_id":"ROOM","content":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, 'invalid_request'],
  ];

  it.each(cases)('answers %s with a clear error and writes nothing', async (_name, raw, error) => {
    const before = await countRows(system.sql);
    client.frames.length = 0;
    client.sendRaw(raw.replaceAll('ROOM', roomId));
    const reply = await client.waitFor((f) => f.success === false, 5000, error);
    expect(reply.error).toBe(error);
    expect(Object.keys(reply).every((k) => ['op', 'success', 'error', 'detail', 'temp_id', 'request_id', 'room_id'].includes(k))).toBe(true);
    expect(JSON.stringify(reply)).not.toMatch(/\bat .*\.ts:\d+/);
    expect(await countRows(system.sql)).toEqual(before);
  });

  it('answers a binary frame with an error', async () => {
    client.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    expect(await client.waitFor((f) => f.error === 'binary_not_supported')).toMatchObject({ success: false });
  });

  it('keeps serving the same connection and other clients afterwards', async () => {
    expect(await client.request({ op: 'send', room_id: roomId, content: { text: 'still here' } })).toMatchObject({ success: true });
    const other = await TestClient.connect(system.port);
    await other.login(newUser());
    other.close();
    const res = await fetch(`http://127.0.0.1:${system.port}/health`);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('answers requests for rooms that do not exist like any other room the user is not in', async () => {
    expect(await client.request({ op: 'join', room_id: randomUUID() })).toMatchObject({ success: false, error: 'Forbidden: not a member' });
  });
});

describe('HTTP endpoints', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({}, { worker: false });
  });
  afterAll(() => system.stop());

  it('GET /health answers {"ok":true}', async () => {
    const res = await fetch(`http://127.0.0.1:${system.port}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"ok":true}');
  });

  it('GET /ready checks PostgreSQL and the bus', async () => {
    const res = await fetch(`http://127.0.0.1:${system.port}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true });
  });

  it('answers unknown paths with 404', async () => {
    expect((await fetch(`http://127.0.0.1:${system.port}/nope`)).status).toBe(404);
  });
});
