// Catching up after the gateway's bus subscription dropped: Pub/Sub loses what was
// published meanwhile, so the gateway must read it from PostgreSQL — all of it, however
// much there is, even if that read fails or the bus drops again while it runs, also for a
// member whose join straddles the reconnect — and must not send anyone a message twice.
// Only the gateway is cut off (its Redis goes through a proxy); the worker keeps
// publishing. The gateway's PostgreSQL also goes through a proxy, which can hold back
// the answer of a query that has already run (its snapshot taken) — and PostgreSQL is a
// private cluster this file may stop.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_CHANNEL } from '../shared/bus/channels';
import { createFreshDatabase, type FreshDatabase } from '../shared/db/fresh-database';
import { queueRoomEvent } from '../gateway/sql/room-event';
import { insertBacklog, insertMessages, receivedIds, waitForOutboxDrained } from './support/backlog';
import { cutSubscription, restoreSubscription, until } from './support/bus-faults';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivatePostgres, startPrivateRedis, type PrivateService } from './support/private-services';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';
import { TestClient } from './support/ws-client';

describe('catch-up after the bus subscription dropped (PUBSUB_MODE=global)', () => {
  let pg: PrivateService;
  let db: FreshDatabase;
  let redis: PrivateService;
  let admin: Redis;
  const procs: RunningProcess[] = [];
  let perTest: { proxies: TcpProxy[]; clients: TestClient[]; gateway: RunningProcess | null } = { proxies: [], clients: [], gateway: null };

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    db = await createFreshDatabase(pg.url, 'arcyou_test');
    redis = await startPrivateRedis();
    admin = new Redis(redis.url);
    admin.on('error', () => {});
    procs.push(await startWorkerProcess({ ...env(), DATABASE_URL: db.url, REDIS_URL: redis.url, POLL_INTERVAL_MS: '50', BATCH_SIZE: '500' }));
  }, 90_000);
  afterEach(async () => {
    for (const c of perTest.clients) c.close();
    perTest.gateway?.child.kill('SIGKILL');
    for (const p of perTest.proxies) await p.close();
    perTest = { proxies: [], clients: [], gateway: null };
  });
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await admin?.quit().catch(() => {});
    await redis?.destroy();
    await db?.drop().catch(() => {});
    await pg?.destroy();
  });

  const env = () => ({
    PUBSUB_MODE: 'global',
    LOG_LEVEL: 'info',
    RL_BUCKET_CAPACITY: '100000',
    RL_REFILL_MS: '1000',
    // The reader must be able to take a burst of 1,100 events.
    WS_SEND_HIGH_WATER: String(16 * 1024 * 1024),
    // Settings of the fixed gateway (ignored by older ones).
    BUS_HEARTBEAT_MS: '300',
    DELIVERY_HOLD_MS: '100',
  });

  /** A gateway reaching Redis and PostgreSQL through proxies of its own. */
  const gatewayBehindProxies = async () => {
    const redisProxy = await startTcpProxy(redis.port);
    const pgProxy = await startTcpProxy(pg.port);
    perTest.proxies.push(redisProxy, pgProxy);
    const url = new URL(db.url);
    url.port = String(pgProxy.port);
    const gateway = await startGatewayProcess({ ...env(), DATABASE_URL: url.toString(), REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` });
    perTest.gateway = gateway;
    procs.push(gateway);
    return { gateway, redisProxy, pgProxy };
  };
  const connect = async (port: number, userId: string, roomId?: string) => {
    const client = await TestClient.connect(port);
    perTest.clients.push(client);
    await client.login(userId, roomId);
    return client;
  };
  /** A room whose reader is joined on the gateway and has received one message live. */
  const roomWithReader = async (port: number) => {
    const [writer, readerId] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [writer, readerId]);
    const reader = await connect(port, readerId, roomId);
    const [first] = await insertMessages(db.sql, roomId, writer, [{ text: 'before the drop' }]);
    await reader.waitFor((f) => f.message?.id === first, 5000, 'the first message, live');
    return { roomId, writer, readerId, reader, first: first! };
  };
  const expectExactly = (client: TestClient, roomId: string, ids: number[]) => {
    const got = receivedIds(client.events(roomId));
    expect(got.duplicates, 'messages received twice').toBe(0);
    expect(got.outOfOrder, 'messages out of order').toBe(0);
    expect(got.ids).toEqual(ids);
  };

  it('delivers all of 1,100 messages published while the subscription was down, none twice, in order', async () => {
    const { gateway, redisProxy } = await gatewayBehindProxies();
    const { roomId, writer, reader, first } = await roomWithReader(gateway.port);
    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    const missed = await insertBacklog(db.sql, roomId, writer, 1100);
    await waitForOutboxDrained(db.sql);
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 0);
    await reader.waitForEvents(1 + missed.length, roomId, 10_000);
    await sleep(300);
    expectExactly(reader, roomId, [first, ...missed]);
  }, 60_000);

  it('reads back the edits and room and member changes (removals too) published while the subscription was down, in place among the messages, none twice', async () => {
    const { gateway, redisProxy } = await gatewayBehindProxies();
    const { roomId, writer, reader, first } = await roomWithReader(gateway.port);
    const carol = newUser(); // a member with no socket here
    await db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${carol})`;
    const roomEvent = (type: string, data: Record<string, unknown>) => db.sql.begin((tx) => queueRoomEvent(tx, roomId, type, data));
    await roomEvent('room.updated', { room: { name: 'heard live' } });
    await reader.waitFor((f) => f.type === 'room.updated', 5000, 'the first room.updated, live');
    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    await roomEvent('message.updated', { message: { id: first, content: { text: 'edited' } } });
    const [second] = await insertMessages(db.sql, roomId, writer, [{ text: 'while the bus was down' }]);
    await roomEvent('member.added', { user_id: newUser() });
    await db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${carol}`;
    await waitForOutboxDrained(db.sql);
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 0);
    await reader.waitFor((f) => f.type === 'member.removed', 10_000, "carol's removal, published while the bus was down");
    await sleep(500);
    const trace = reader.events(roomId).map((f) => (f.type === 'message.created' ? f.message.id : `${f.type}@${f.seq}`));
    expect(trace).toEqual([first, 'room.updated@1', 'message.updated@1', second, 'member.added@2', 'member.removed@2']);
    expect(reader.events(roomId).at(-1)).toMatchObject({ data: { user_id: carol } });
  }, 60_000);

  it('still delivers what was missed when PostgreSQL was unreachable at the reconnect and came back later', async () => {
    const { gateway, redisProxy } = await gatewayBehindProxies();
    const { roomId, writer, reader, first } = await roomWithReader(gateway.port);
    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    const missed = await insertBacklog(db.sql, roomId, writer, 20);
    await waitForOutboxDrained(db.sql);
    await pg.stop();
    try {
      // The gateway hears the bus again while PostgreSQL is down: its catch-up query fails.
      await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 1500);
    } finally {
      await pg.start();
    }
    // Nothing else happens in the room: what was missed must still arrive on its own.
    await reader.waitForEvents(1 + missed.length, roomId, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${gateway.output().slice(-1500)}`);
    });
    await sleep(300);
    expectExactly(reader, roomId, [first, ...missed]);
  }, 60_000);

  it('delivers what was published during a second drop that came while the first catch-up was still running', async () => {
    const { gateway, redisProxy, pgProxy } = await gatewayBehindProxies();
    const { roomId, writer, reader, first } = await roomWithReader(gateway.port);
    const marker = `first-drop-${newUser()}`;

    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    const firstDrop = await insertMessages(db.sql, roomId, writer, [{ text: marker }, ...Array.from({ length: 4 }, (_, i) => ({ text: `first drop ${i}` }))]);
    await waitForOutboxDrained(db.sql);
    // The answer that carries the first drop's messages has been computed by PostgreSQL, but is held on its way to the gateway.
    pgProxy.holdOn(marker);
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 0);
    await until('the catch-up answer held in the proxy', () => pgProxy.holding(), 5000).catch(() => {});

    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    const secondDrop = await insertMessages(
      db.sql,
      roomId,
      writer,
      Array.from({ length: 5 }, (_, i) => ({ text: `second drop ${i}` })),
    );
    await waitForOutboxDrained(db.sql);
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 1000);
    pgProxy.release();

    await reader.waitForEvents(1 + firstDrop.length + secondDrop.length, roomId, 8000);
    await sleep(300);
    expectExactly(reader, roomId, [first, ...firstDrop, ...secondDrop]);
  }, 60_000);

  it('delivers what was missed to a member whose join was loading its backfill across the reconnect', async () => {
    const { gateway, redisProxy, pgProxy } = await gatewayBehindProxies();
    const [writer, readerId] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [writer, readerId]);
    const marker = `backfill-${newUser()}`;
    const [unread] = await insertMessages(db.sql, roomId, writer, [{ text: marker }]);
    await waitForOutboxDrained(db.sql);

    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    // The join's backfill is read (before the messages below exist) but reaches the gateway only after the reconnect.
    pgProxy.holdOn(marker);
    const reader = await connect(gateway.port, readerId);
    const joined = reader.request({ op: 'join', room_id: roomId }, 30_000);
    await until('the backfill answer held in the proxy', () => pgProxy.holding(), 5000).catch(() => {});
    const missed = await insertMessages(
      db.sql,
      roomId,
      writer,
      Array.from({ length: 5 }, (_, i) => ({ text: `missed ${i}` })),
    );
    await waitForOutboxDrained(db.sql);
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 1000);
    pgProxy.release();

    expect(await joined).toMatchObject({ op: 'join', success: true });
    await reader.waitForEvents(1 + missed.length, roomId, 8000);
    await sleep(300);
    expectExactly(reader, roomId, [unread!, ...missed]);
  }, 60_000);

  it('does not replay to a member the messages it already got in its join backfill', async () => {
    const { gateway, redisProxy } = await gatewayBehindProxies();
    const { roomId, writer, reader: staying, first } = await roomWithReader(gateway.port);
    await cutSubscription(admin, redisProxy, GLOBAL_CHANNEL);
    const missed = await insertMessages(
      db.sql,
      roomId,
      writer,
      Array.from({ length: 5 }, (_, i) => ({ text: `missed ${i}` })),
    );
    await waitForOutboxDrained(db.sql);
    // The writer joins while the gateway is deaf: its backfill carries everything, and it
    // stays deaf longer than the join's wait for the live stream (10 s).
    const late = await connect(gateway.port, writer, roomId);
    await late.waitForEvents(1 + missed.length, roomId, 5000);
    await sleep(11_000);
    await restoreSubscription(admin, redisProxy, GLOBAL_CHANNEL, 0);
    // The member who was there all along gets what it missed — and then the late joiner has had every chance to get it twice.
    await staying.waitForEvents(1 + missed.length, roomId, 8000);
    await sleep(1000);
    expectExactly(staying, roomId, [first, ...missed]);
    expectExactly(late, roomId, [first, ...missed]);
  }, 60_000);
});
