// Sends that answer a message of the room, and image/file messages with validated content.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { clientPool } from './support/client-pool';

describe('replies and file messages', () => {
  let system: TestSystem;
  const clients = clientPool();
  const connect = (userId: string, roomId: string) => clients.member(system.port, userId, roomId);
  beforeAll(async () => {
    system = await startSystem({ RL_BUCKET_CAPACITY: '10000', RL_REFILL_MS: '1000' });
  });
  afterAll(async () => {
    clients.closeAll();
    await system?.stop();
  });

  it('stores a reply to a message of the same room, and members see what it answers', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice, roomId);
    const b = await connect(bob, roomId);
    const question = await a.request({ op: 'send', room_id: roomId, content: { text: 'lunch?' } });
    const answer = await b.request({ op: 'send', room_id: roomId, content: { text: 'yes' }, reply_to_message_id: question.message_id });
    expect(answer.success).toBe(true);
    const events = await a.waitForEvents(2, roomId);
    expect(events[0]!.message.reply_to_message_id).toBeNull();
    expect(events[1]!.message).toMatchObject({ id: answer.message_id, type: 'text', reply_to_message_id: question.message_id });
    // A joiner's backfill says the same.
    const late = await connect(bob, roomId);
    const backfill = await late.waitForEvents(2, roomId);
    expect(backfill[1]!.message.reply_to_message_id).toBe(question.message_id);
  });

  it('refuses a reply to a message of another room, an unknown or a deleted one, and stores nothing', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom(system.sql, [alice]);
    const otherRoom = await createRoom(system.sql, [alice]);
    const a = await connect(alice, roomId);
    await a.request({ op: 'join', room_id: otherRoom });
    const elsewhere = await a.request({ op: 'send', room_id: otherRoom, content: { text: 'x' } });
    const gone = await a.request({ op: 'send', room_id: roomId, content: { text: 'y' } });
    await a.request({ op: 'delete', room_id: roomId, message_id: gone.message_id });
    for (const target of [elsewhere.message_id, gone.message_id, 987_654_321]) {
      const reply = await a.request({ op: 'send', room_id: roomId, content: { text: 'z' }, reply_to_message_id: target });
      expect(reply).toMatchObject({ success: false, error: 'invalid_request', detail: 'reply_to_message_id is not a message of this room' });
    }
    const [{ n }] = (await system.sql`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${roomId}`) as unknown as [{ n: number }];
    expect(n).toBe(1);
  });

  it('takes image and file messages whose content names an http(s) URL, and refuses others', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await connect(alice, roomId);
    const b = await connect(bob, roomId);
    const image = await a.request({
      op: 'send',
      room_id: roomId,
      type: 'image',
      content: { url: 'https://cdn.example.com/cat.png', name: 'cat.png', mime: 'image/png', size: 51234 },
    });
    expect(image.success).toBe(true);
    const event = await b.waitFor((f) => f.message?.id === image.message_id);
    expect(event.message).toMatchObject({ type: 'image', content: { url: 'https://cdn.example.com/cat.png', mime: 'image/png' } });
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: 'no url' }, /^content\.url /],
      [{ url: 'javascript:alert(1)' }, /^content\.url must be an http\(s\) URL/],
      [{ url: 'https://x.example/f', size: -1 }, /^content\.size must not be negative/],
      [{ url: 'https://x.example/f', mime: 'not a mime' }, /^content\.mime must be a MIME type/],
    ];
    for (const [content, detail] of bad) {
      const reply = await a.request({ op: 'send', room_id: roomId, type: 'file', content });
      expect(reply, JSON.stringify(content)).toMatchObject({ success: false, error: 'invalid_request' });
      expect(reply.detail).toMatch(detail);
    }
    expect(await a.request({ op: 'send', room_id: roomId, type: 'system', content: { text: 'x' } })).toMatchObject({
      success: false,
      error: 'invalid_request',
    });
  });
});
