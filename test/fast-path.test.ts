// Sends are written by group commit and published by the gateway itself (the fast path,
// gateway/send-batcher.ts), with the outbox workers as the safety net: for rooms with a row
// in their hands, for publishes that failed, for rows a dead gateway held.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelFor } from '../shared/bus/channels';
import { createLogger } from '../shared/logger';
import { createRedisBus } from '../shared/bus/redis-bus';
import { loadConfig } from '../shared/config';
import { createSql } from '../shared/db/client';
import { chatWorkerEnv } from '../worker/config';
import { startChatWorker } from '../worker/chat/chat-worker';
import { startGatewayProcess, startWorkerProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { processTestBed } from './support/process-bed';
import { startPrivateRedis } from './support/private-services';
import { membersInRoom } from './support/room-members';
import { redisUrl } from './support/services';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

describe('fast path and group commit (in-process gateway, no worker)', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ RL_BUCKET_CAPACITY: '100000', RL_REFILL_MS: '1000', POLL_INTERVAL_MS: '100' }, { worker: false });
  });
  afterAll(() => system.stop());

  it('publishes a stored message itself, with no worker running, and deletes its outbox row', async () => {
    const {
      roomId,
      clients: [a, b],
    } = await membersInRoom(system.sql, system.port, 2);
    const reply = await a!.request({ op: 'send', room_id: roomId, content: { text: 'fast' } });
    await b!.waitFor((f) => f.message?.id === reply.message_id, 5000, 'the message, published by the gateway');
    await until('its outbox row deleted', async () => (await system.sql`SELECT 1 FROM outbox WHERE room_id = ${roomId}`).length === 0);
    a!.close();
    b!.close();
  });

  it('writes concurrent sends of many connections together, and answers a connection’s pipelined sends in order', async () => {
    const rooms = await Promise.all(Array.from({ length: 8 }, () => membersInRoom(system.sql, system.port, 2)));
    // One connection fires 20 sends without waiting; seven others send at the same time.
    const [first, ...others] = rooms;
    const requestIds = Array.from({ length: 20 }, (_, i) => `p${i}`);
    for (const id of requestIds) first!.clients[0]!.sendRaw(JSON.stringify({ op: 'send', room_id: first!.roomId, content: { id }, request_id: id }));
    // Another op right behind them, answered without waiting for anything: its reply is written
    // at once, and the send replies (held to be written together) still go before it.
    first!.clients[0]!.sendRaw(JSON.stringify({ op: 'typing', room_id: randomUUID(), request_id: 'behind' }));
    await Promise.all(
      others.map((room) => Promise.all(Array.from({ length: 5 }, (_, i) => room.clients[0]!.request({ op: 'send', room_id: room.roomId, content: { i } })))),
    );
    const replies = await Promise.all(requestIds.map((id) => first!.clients[0]!.waitFor((f) => f.request_id === id)));
    expect(replies.map((r) => r.seq)).toEqual(requestIds.map((_, i) => i + 1));
    // Replies came in the order the sends were made.
    await first!.clients[0]!.waitFor((f) => f.request_id === 'behind');
    const order = first!.clients[0]!.frames.filter((f) => f.op === 'send' || f.request_id === 'behind').map((f) => f.request_id);
    expect(order).toEqual([...requestIds, 'behind']);
    // Fewer transactions than sends: the gateway's batch-size histogram saw batches of more than one.
    const metrics = await (await fetch(`http://127.0.0.1:${system.port}/metrics`)).text();
    const count = Number(metrics.match(/^arcyou_gateway_send_batch_size_count (\d+)/m)![1]);
    const sum = Number(metrics.match(/^arcyou_gateway_send_batch_size_sum (\d+)/m)![1]);
    expect(sum).toBeGreaterThan(count);
    for (const room of rooms) for (const c of room.clients) c.close();
  });

  it('leaves a room to the workers while a row of it is in their hands, so nothing overtakes a removal', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await TestClient.connect(system.port);
    const b = await TestClient.connect(system.port);
    await a.login(alice, roomId);
    await b.login(bob, roomId);
    const before = await a.request({ op: 'send', room_id: roomId, content: { text: 'before' } });
    await b.waitFor((f) => f.message?.id === before.message_id);
    // Bob is removed: its event is a pending row, and no worker is running to publish it.
    await system.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
    const after = await a.request({ op: 'send', room_id: roomId, content: { text: 'after' } });
    const [row] = await system.sql<{ status: string; locked_by: string | null }[]>`
      SELECT status::text, locked_by FROM outbox WHERE room_id = ${roomId} AND (payload->>'id')::bigint = ${after.message_id}`;
    expect(row).toEqual({ status: 'pending', locked_by: null });
    await sleep(300);
    expect(b.events(roomId).some((e) => e.message?.id === after.message_id)).toBe(false);
    // A worker publishes the room in order: the removal, then the message (which Bob never gets).
    const logger = createLogger('test', 'silent');
    const workerSql = createSql(system.db.url, { max: 2 });
    const workerBus = createRedisBus(redisUrl(), logger, 'test-fast-path-worker', { heartbeatMs: 0 });
    const worker = await startChatWorker(loadConfig(chatWorkerEnv, { DATABASE_URL: system.db.url, REDIS_URL: redisUrl(), POLL_INTERVAL_MS: '50' }), {
      sql: workerSql,
      listenSql: null,
      bus: workerBus,
      logger,
    });
    try {
      await b.waitFor((f) => f.type === 'member.removed' && f.roomId === roomId);
      await a.waitFor((f) => f.message?.id === after.message_id);
      await sleep(300);
      expect(b.events(roomId).some((e) => e.message?.id === after.message_id)).toBe(false);
      const seen = a.events(roomId).map((e) => (e.type === 'member.removed' ? 'removed' : e.message.id));
      expect(seen.slice(-2)).toEqual(['removed', after.message_id]);
    } finally {
      await worker.stop();
      await workerBus.close();
      await workerSql.end();
      a.close();
      b.close();
    }
  });
});

describe('fast path safety net (processes)', () => {
  const bed = processTestBed();

  it('hands the rows of a publish that failed (Redis down) to the workers, which publish them once Redis is back', async () => {
    const redis = await startPrivateRedis();
    try {
      const env = {
        DATABASE_URL: bed.db.url,
        REDIS_URL: redis.url,
        LOG_LEVEL: 'info',
        POLL_INTERVAL_MS: '100',
        BACKOFF_BASE_MS: '100',
        BACKOFF_CAP_MS: '500',
        MAX_ATTEMPTS: '100',
        BUS_HEARTBEAT_MS: '200',
      };
      const gateway = await startGatewayProcess(env);
      bed.procs.push(gateway);
      const {
        roomId,
        clients: [a, b],
      } = await membersInRoom(bed.db.sql, gateway.port, 2);
      await redis.stop();
      const reply = await a!.request({ op: 'send', room_id: roomId, content: { text: 'while redis is down' } });
      expect(reply).toMatchObject({ success: true });
      await until('the row handed to the workers', async () => {
        const [row] = await bed.db.sql<{ status: string }[]>`SELECT status::text FROM outbox WHERE (payload->>'id')::bigint = ${reply.message_id}`;
        return row?.status === 'pending';
      });
      // The log line may reach this process after the row's change does.
      await until('the failed publish in the log', async () => gateway.output().includes('fast-path publish failed'));
      await redis.start();
      bed.procs.push(await startWorkerProcess(env));
      await b!.waitFor((f) => f.message?.id === reply.message_id, 15_000, 'the message after Redis came back');
      await until('the row published by a worker', async () => {
        const [row] = await bed.db.sql<{ status: string }[]>`SELECT status::text FROM outbox WHERE (payload->>'id')::bigint = ${reply.message_id}`;
        return row?.status === 'published';
      });
      a!.close();
      b!.close();
    } finally {
      await redis.destroy();
    }
  }, 60_000);

  it('lets the workers publish what a gateway held when it died, once its hold runs out', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(bed.db.sql, [alice, bob]);
    // Rows as a gateway writes them for its fast path, whose process died before publishing.
    const [room] = await bed.db.sql<{ last_seq: number }[]>`UPDATE arcyou_chat_rooms SET last_seq = 1 WHERE id = ${roomId} RETURNING last_seq`;
    const [message] = await bed.db.sql<{ id: number }[]>`
      INSERT INTO arcyou_chat_messages (room_id, seq, user_id, content) VALUES (${roomId}, ${room!.last_seq}, ${alice}, '{"text":"orphan"}') RETURNING id`;
    await bed.db.sql`
      INSERT INTO outbox (type, room_id, payload, status, locked_by, locked_until)
      SELECT 'message.created', room_id, jsonb_build_object('id', id, 'seq', seq, 'user_id', user_id, 'content', content, 'created_at', created_at),
             'in_progress', 'gateway:dead', now() + interval '1 second'
      FROM arcyou_chat_messages WHERE id = ${message!.id}`;
    const subscriber = new Redis(redisUrl());
    const heard: string[] = [];
    subscriber.on('message', (_channel, frame: string) => heard.push(frame));
    await subscriber.subscribe(channelFor('global', roomId));
    const worker = await startWorkerProcess({
      DATABASE_URL: bed.db.url,
      REDIS_URL: redisUrl(),
      LOG_LEVEL: 'info',
      POLL_INTERVAL_MS: '100',
      REAP_INTERVAL_MS: '200',
    });
    bed.procs.push(worker);
    try {
      await until('the worker published the orphan', async () => heard.some((f) => f.includes('orphan')), 10_000);
    } finally {
      await subscriber.quit();
    }
  }, 30_000);
});
