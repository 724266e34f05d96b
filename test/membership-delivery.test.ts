// Membership and live delivery: a member removed from a room stops receiving it — even if
// the removal was published while the gateway was cut off from the bus, or arrived while
// that member's join was loading its backfill — and a member who is in the room (re-added,
// or removed and re-added in one transaction) is not evicted by a stale member.removed.
// Members are removed with deleted_at = now() and re-added with deleted_at = NULL; the
// outbox trigger emits member.removed. Gateway and worker run as processes; the gateway
// reaches Redis and PostgreSQL through proxies (test/support/tcp-proxy.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_CHANNEL } from '../shared/bus/channels';
import { insertMessages, waitForOutboxDrained } from './support/backlog';
import { cutSubscription, restoreSubscription, until } from './support/bus-faults';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { createTestDatabase, databaseUrl, type TestDatabase } from './support/services';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';
import { TestClient } from './support/ws-client';

describe('membership changes and live delivery (PUBSUB_MODE=global)', () => {
  let db: TestDatabase;
  let redis: PrivateService;
  let admin: Redis;
  let perTest: { proxies: TcpProxy[]; clients: TestClient[]; procs: RunningProcess[] } = { proxies: [], clients: [], procs: [] };

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await startPrivateRedis();
    admin = new Redis(redis.url);
    admin.on('error', () => {});
  });
  afterEach(async () => {
    for (const c of perTest.clients) c.close();
    for (const p of perTest.procs) p.child.kill('SIGKILL');
    await Promise.all(perTest.procs.map((p) => p.exited));
    for (const p of perTest.proxies) await p.close();
    perTest = { proxies: [], clients: [], procs: [] };
  });
  afterAll(async () => {
    await admin?.quit().catch(() => {});
    await redis?.destroy();
    await db?.drop();
  });

  const env = () => ({
    PUBSUB_MODE: 'global',
    LOG_LEVEL: 'info',
    RL_BUCKET_CAPACITY: '10000',
    RL_REFILL_MS: '1000',
    POLL_INTERVAL_MS: '100',
    // Settings of the fixed gateway (ignored by older ones).
    BUS_HEARTBEAT_MS: '300',
    DELIVERY_HOLD_MS: '100',
  });
  const startWorker = async () => {
    const worker = await startWorkerProcess({ ...env(), DATABASE_URL: db.url, REDIS_URL: redis.url });
    perTest.procs.push(worker);
    return worker;
  };
  /** A gateway reaching Redis and PostgreSQL through proxies of its own. */
  const startGateway = async () => {
    const redisProxy = await startTcpProxy(redis.port);
    const server = new URL(databaseUrl());
    const pgProxy = await startTcpProxy(Number(server.port || 5432), { host: server.hostname });
    perTest.proxies.push(redisProxy, pgProxy);
    const url = new URL(db.url);
    url.port = String(pgProxy.port);
    const gateway = await startGatewayProcess({ ...env(), DATABASE_URL: url.toString(), REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` });
    perTest.procs.push(gateway);
    return { gateway, redisProxy, pgProxy };
  };
  const connect = async (port: number, userId: string, roomId?: string) => {
    const client = await TestClient.connect(port);
    perTest.clients.push(client);
    await client.login(userId, roomId);
    return client;
  };
  const send = async (client: TestClient, roomId: string, text: string) => {
    const reply = await client.request({ op: 'send', room_id: roomId, content: { text } });
    expect(reply, `send "${text}"`).toMatchObject({ success: true });
    return reply.message_id as number;
  };
  const gotMessage = (client: TestClient, id: number) => client.events().some((f) => f.message?.id === id);
  const removeMember = (roomId: string, userId: string) =>
    db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${userId}`;
  const readdMember = (roomId: string, userId: string) =>
    db.sql`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${userId}`;

  /**
   * Alice, Bob and Carol on one gateway; Bob is removed while that gateway is cut off from the
   * bus (the member.removed is published and lost to it), and Alice sends — three messages
   * while it is still cut off, or one once it hears the bus again. Returns Bob, Carol and those messages.
   */
  const removedWhileCutOff = async (sendWhileCutOff: boolean) => {
    const [{ gateway, redisProxy }] = await Promise.all([startGateway(), startWorker()]);
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob, carol]);
    const [a, b, c] = await Promise.all([connect(gateway.port, alice, roomId), connect(gateway.port, bob, roomId), connect(gateway.port, carol, roomId)]);
    const before = await send(a, roomId, 'before');
    await b.waitFor((f) => f.message?.id === before, 5000, 'the first message at bob');

    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    await removeMember(roomId, bob);
    await waitForOutboxDrained(db.sql); // member.removed is on the bus — and lost to this gateway
    const messages: number[] = [];
    if (sendWhileCutOff) {
      for (const n of [1, 2, 3]) messages.push(await send(a, roomId, `sent while the gateway is cut off (${n})`));
      await sleep(300);
    }
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    if (!sendWhileCutOff) messages.push(await send(a, roomId, 'after bob was removed'));
    return { b, c, messages };
  };

  it('stops delivering to a member whose removal was published while the gateway was cut off from the bus', async () => {
    const { b, c, messages } = await removedWhileCutOff(false);
    const after = messages[0]!;
    await c.waitFor((f) => f.message?.id === after, 10_000, 'the later message at carol');
    await sleep(500);
    expect(gotMessage(b, after), 'bob, removed, received a message sent after his removal').toBe(false);
  }, 60_000);

  it('does not deliver a message sent through the same gateway while it is cut off to a member removed meanwhile', async () => {
    // Found by the chaos run: a gateway that handed its own messages to its rooms at once let
    // them overtake a removal it had not heard yet. It may do so only when no such event can
    // lie between the message and the one it delivered before (gateway/delivery/room.ts, takeOwn).
    const { b, c, messages } = await removedWhileCutOff(true);
    await c.waitFor((f) => f.message?.id === messages.at(-1), 10_000, 'the messages at carol');
    await sleep(500);
    for (const during of messages) expect(gotMessage(b, during), 'bob, removed, received a message sent after his removal').toBe(false);
  }, 60_000);

  it('hands its own messages to its own members at once when only messages were placed since the one they had (even cut off from the bus)', async () => {
    const [{ gateway, redisProxy }] = await Promise.all([startGateway(), startWorker()]);
    const [alice, carol] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, carol]);
    const [a, c] = await Promise.all([connect(gateway.port, alice, roomId), connect(gateway.port, carol, roomId)]);
    const first = await send(a, roomId, 'first');
    await c.waitFor((f) => f.message?.id === first, 5000, 'the first message at carol');
    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    // Nothing comes through Redis now: these can only come from the gateway that stored them.
    const during: number[] = [];
    for (const n of [1, 2, 3]) during.push(await send(a, roomId, `while cut off (${n})`));
    await c.waitFor((f) => f.message?.id === during.at(-1), 5000, 'its own messages at carol while the gateway is cut off');
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    const after = await send(a, roomId, 'after');
    await c.waitFor((f) => f.message?.id === after, 10_000, 'the last message at carol');
    const ids = c.events().flatMap((f) => (f.message?.id ? [f.message.id] : []));
    expect(ids).toEqual([first, ...during, after]); // once each, in order
  }, 60_000);

  it('stops delivering to a member removed while its join was loading the backfill', async () => {
    const [{ gateway, pgProxy }] = await Promise.all([startGateway(), startWorker()]);
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob, carol]);
    const [a, c] = await Promise.all([connect(gateway.port, alice, roomId), connect(gateway.port, carol, roomId)]);
    const marker = `unread-${newUser()}`;
    const [unread] = await insertMessages(db.sql, roomId, alice, [{ text: marker }]);
    await c.waitFor((f) => f.message?.id === unread, 5000, 'the unread message at carol');

    // Bob's backfill (which carries that unread message) is read, but held on its way to the gateway.
    pgProxy.holdOn(marker);
    const b = await connect(gateway.port, bob);
    const joined = b.request({ op: 'join', room_id: roomId }, 30_000);
    await until('the backfill answer held in the proxy', () => pgProxy.holding(), 5000).catch(() => {});
    await removeMember(roomId, bob);
    await c.waitFor((f) => f.type === 'member.removed' && f.data?.user_id === bob, 5000, 'the member.removed event at carol');
    pgProxy.release();
    await joined; // either way: joined then removed, or refused

    const after = await send(a, roomId, 'after bob was removed');
    await c.waitFor((f) => f.message?.id === after, 5000, 'the later message at carol');
    await sleep(500);
    expect(gotMessage(b, after), 'bob, removed, received a message sent after his removal').toBe(false);
  }, 60_000);

  it('keeps delivering to a member removed and re-added in one transaction', async () => {
    const [{ gateway }] = await Promise.all([startGateway(), startWorker()]);
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const [a, b] = await Promise.all([connect(gateway.port, alice, roomId), connect(gateway.port, bob, roomId)]);
    // Seen from outside, bob never left the room.
    await db.sql.begin(async (tx) => {
      await tx`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${bob}`;
      await tx`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${bob}`;
    });
    // Its member.removed row comes before this message in the room's outbox, so it reaches the gateway first.
    const after = await send(a, roomId, 'after the round trip');
    await a.waitFor((f) => f.message?.id === after, 5000, 'the message at alice');
    await b.waitFor((f) => f.message?.id === after, 5000, 'the message at bob, who is a member');
  }, 60_000);

  it('keeps delivering to a member who re-joined after a quick remove and re-add whose removal reaches the gateway only later', async () => {
    const { gateway } = await startGateway(); // no worker yet: the removal stays in the outbox
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const a = await connect(gateway.port, alice, roomId);
    const firstSocket = await connect(gateway.port, bob, roomId);
    await removeMember(roomId, bob);
    await readdMember(roomId, bob);
    firstSocket.close();
    const b = await connect(gateway.port, bob, roomId);

    await startWorker(); // publishes the removal now, after bob's re-join
    const after = await send(a, roomId, 'after bob re-joined');
    await a.waitFor((f) => f.message?.id === after, 10_000, 'the message at alice');
    await b.waitFor((f) => f.message?.id === after, 5000, 'the message at bob, who re-joined as a member');
  }, 60_000);
});
