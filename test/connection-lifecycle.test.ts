// Connection-level behaviour: per-room Redis subscriptions follow local membership
// (PUBSUB_MODE=perconv), and idle connections are pinged, then closed if silent.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roomChannel } from '../shared/bus/channels';
import { createRoom, newUser } from './support/fixtures';
import { redisUrl } from './support/services';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

async function subscribers(redis: Redis, channel: string): Promise<number> {
  const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
  return Number(count);
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(25);
  }
  return check();
}

describe('PUBSUB_MODE=perconv subscriptions', () => {
  let system: TestSystem;
  let redis: Redis;
  beforeAll(async () => {
    system = await startSystem({ PUBSUB_MODE: 'perconv' }, { worker: false });
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await redis.quit();
    await system.stop();
  });

  it('subscribes to a room channel with its first member here and drops it with the last', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const channel = roomChannel(roomId);
    expect(await subscribers(redis, channel)).toBe(0);

    const a = await TestClient.connect(system.port);
    await a.login(alice, roomId);
    expect(await subscribers(redis, channel)).toBe(1);
    const b = await TestClient.connect(system.port);
    await b.login(bob, roomId);
    expect(await subscribers(redis, channel)).toBe(1); // one subscription per gateway, not per socket

    a.close();
    await a.closed;
    expect(await eventually(async () => (await subscribers(redis, channel)) === 1, 500)).toBe(true);
    b.close();
    await b.closed;
    expect(await eventually(async () => (await subscribers(redis, channel)) === 0)).toBe(true);
  });

  it('does not subscribe for a join that is refused', async () => {
    const roomId = await createRoom(system.sql, [newUser()]);
    const outsider = await TestClient.connect(system.port);
    await outsider.login(newUser());
    expect(await outsider.request({ op: 'join', room_id: roomId })).toMatchObject({ success: false });
    expect(await subscribers(redis, roomChannel(roomId))).toBe(0);
    outsider.close();
  });
});

describe('idle connections', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ WS_IDLE_TIMEOUT_S: '8' }, { worker: false });
  });
  afterAll(() => system.stop());

  it('pings a quiet client, and closes one that never answers', async () => {
    const answering = await TestClient.connect(system.port);
    await answering.login(newUser());
    const pinged = new Promise<void>((resolve) => answering.ws.once('ping', () => resolve()));

    // A client that neither sends nor answers pings (autoPong off).
    const silent = new WebSocket(`ws://127.0.0.1:${system.port}/`, { autoPong: false });
    await new Promise((resolve) => silent.once('open', resolve));
    silent.send(JSON.stringify({ op: 'auth', token: newUser() }));
    const silentClosed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));

    await pinged; // the answering client is kept alive by pings
    const started = Date.now();
    await silentClosed;
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(answering.ws.readyState).toBe(WebSocket.OPEN);
    answering.close();
  }, 40_000);
});
