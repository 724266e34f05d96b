// Per-connection limits (README: Configuration): token bucket, frame size, slow-consumer watermark.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

describe('rate limit', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ RL_BUCKET_CAPACITY: '5', RL_REFILL_MS: '600000' }, { worker: false });
  });
  afterAll(() => system.stop());

  it('refuses the (capacity+1)th op inside the window with rate_limited, and does not run it', async () => {
    const alice = newUser();
    const roomId = await createRoom(system.sql, [alice]);
    const client = await TestClient.connect(system.port);
    await client.login(alice, roomId); // ops 1 and 2
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await client.request({ op: 'send', room_id: roomId, content: { i } })); // ops 3..6
    expect(replies.slice(0, 3).every((r) => r.success)).toBe(true);
    expect(replies[3]).toMatchObject({ op: 'send', success: false, error: 'rate_limited' });
    expect((await countRows(system.sql)).messages).toBe(3);
    expect(system.gateway.stats.rateLimited).toBeGreaterThanOrEqual(1);
    client.close();
  });

  it('limits each connection separately', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const flooder = await TestClient.connect(system.port);
    const other = await TestClient.connect(system.port);
    await flooder.login(alice, roomId);
    for (let i = 0; i < 10; i++) flooder.sendRaw(JSON.stringify({ op: 'ack', room_id: roomId, last_read_message_id: 0 }));
    await flooder.waitFor((f) => f.error === 'rate_limited');
    await other.login(bob, roomId);
    expect(await other.request({ op: 'send', room_id: roomId, content: { text: 'still fine' } })).toMatchObject({ success: true });
    flooder.close();
    other.close();
  });
});

describe('frame size limit', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ MAX_BODY_BYTES: '1024' }, { worker: false });
  });
  afterAll(() => system.stop());

  it('closes a connection that sends a frame over MAX_BODY_BYTES, writing nothing', async () => {
    const alice = newUser();
    const roomId = await createRoom(system.sql, [alice]);
    const client = await TestClient.connect(system.port);
    await client.login(alice, roomId);
    expect(await client.request({ op: 'send', room_id: roomId, content: { text: 'x'.repeat(800) } })).toMatchObject({ success: true });
    const before = await countRows(system.sql);
    client.sendRaw(JSON.stringify({ op: 'send', room_id: roomId, content: { text: 'x'.repeat(2000) } }));
    const { code } = await client.closed;
    expect([1006, 1009]).toContain(code); // uWS drops the connection outright
    expect(await countRows(system.sql)).toEqual(before);
  });
});

describe('slow consumer', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ WS_SEND_HIGH_WATER: '65536', RL_BUCKET_CAPACITY: '100000', RL_REFILL_MS: '1000' });
  });
  afterAll(() => system.stop());

  it('closes a client that stops reading once past WS_SEND_HIGH_WATER, while a reading client gets every message', async () => {
    const [sender, slowUser, fastUser] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(system.sql, [sender, slowUser, fastUser]);
    const s = await TestClient.connect(system.port);
    const slow = await TestClient.connect(system.port);
    const fast = await TestClient.connect(system.port);
    await s.login(sender, roomId);
    await slow.login(slowUser, roomId);
    await fast.login(fastUser, roomId);
    // Stop reading: the kernel buffers fill up, then the gateway's.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const payload = 'x'.repeat(30_000);
    const sent: number[] = [];
    let slowClosedOnServer = false;
    for (let i = 0; i < 3000 && !slowClosedOnServer; i++) {
      const reply = await s.request({ op: 'send', room_id: roomId, content: { i, payload } });
      expect(reply.success).toBe(true);
      sent.push(reply.message_id);
      if (i % 20 === 19) {
        await fast.waitFor((f) => f.message?.id === reply.message_id, 10_000);
        slowClosedOnServer = system.gateway.stats.connections < 3;
      }
    }
    expect(slowClosedOnServer).toBe(true);
    // A few more after the close: the others are unaffected.
    for (let i = 0; i < 5; i++) sent.push((await s.request({ op: 'send', room_id: roomId, content: { after: i } })).message_id);

    await fast.waitFor((f) => f.message?.id === sent.at(-1), 10_000);
    expect(fast.events(roomId).map((e) => e.message.id)).toEqual(sent);

    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await slow.closed;
    expect(slow.events(roomId).length).toBeLessThan(sent.length);
    s.close();
    fast.close();
  }, 120_000);
});
