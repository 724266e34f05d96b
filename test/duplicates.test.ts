// No member receives a message twice: not a backfilled message that is published only
// after the join stopped waiting for it, not a row a worker publishes again after a crash
// (it died between publishing and recording it) to a member who reconnected meanwhile,
// and not a stale copy that comes after more than 1,024 newer messages. The republish is
// simulated by publishing exactly the frame the worker would publish for that outbox row
// (worker/chat/chat-publisher.ts eventForRow) to the room's channel.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { channelFor } from '../shared/bus/channels';
import { eventForRow } from '../worker/chat/chat-publisher';
import type { OutboxRow } from '../worker/outbox/sql/claim';
import { insertBacklog, insertMessages, receivedIds, waitForOutboxDrained } from './support/backlog';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { createTestDatabase, type TestDatabase } from './support/services';
import { TestClient } from './support/ws-client';

const MODE = 'global';

describe(`duplicates (PUBSUB_MODE=${MODE})`, () => {
  let db: TestDatabase;
  let redis: PrivateService;
  let admin: Redis;
  let perTest: { clients: TestClient[]; procs: RunningProcess[] } = { clients: [], procs: [] };

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
    perTest = { clients: [], procs: [] };
  });
  afterAll(async () => {
    await admin?.quit().catch(() => {});
    await redis?.destroy();
    await db?.drop();
  });

  const env = () => ({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    PUBSUB_MODE: MODE,
    LOG_LEVEL: 'info',
    RL_BUCKET_CAPACITY: '10000',
    RL_REFILL_MS: '1000',
    POLL_INTERVAL_MS: '100',
    BATCH_SIZE: '500',
    WS_SEND_HIGH_WATER: String(16 * 1024 * 1024),
    // Settings of the fixed gateway (ignored by older ones).
    BUS_HEARTBEAT_MS: '300',
    DELIVERY_HOLD_MS: '100',
  });
  const startGateway = async () => {
    const gateway = await startGatewayProcess(env());
    perTest.procs.push(gateway);
    return gateway;
  };
  const startWorker = async () => {
    perTest.procs.push(await startWorkerProcess(env()));
  };
  const connect = async (port: number, userId: string, roomId?: string) => {
    const client = await TestClient.connect(port);
    perTest.clients.push(client);
    await client.login(userId, roomId);
    return client;
  };
  /** Publishes again, as a worker that crashed before recording it would, the live event of the message `messageId`. */
  const republish = async (roomId: string, messageId: number) => {
    const [row] = await db.sql<OutboxRow[]>`
      SELECT * FROM outbox
      WHERE type = 'message.created' AND (payload->>'id')::bigint = ${messageId}`;
    const event = eventForRow(row!);
    if (!('frame' in event)) throw new Error(event.invalid);
    await admin.publish(channelFor(MODE, roomId), event.frame);
  };
  /** A message published after everything before it: once a client has it, it has had every chance to get what came before. */
  const sentinel = async (client: TestClient, roomId: string, userId: string) => {
    const [id] = await insertMessages(db.sql, roomId, userId, [{ text: 'sentinel' }]);
    await client.waitFor((f) => f.message?.id === id, 10_000, 'the sentinel message');
    await sleep(200);
    return id!;
  };

  it('does not deliver again live a backfilled message published only after the join stopped waiting for it', async () => {
    const gateway = await startGateway();
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const a = await connect(gateway.port, alice, roomId);
    // Written straight to the database, as a send stores them but with no fast path (a gateway
    // publishes its own sends at once): no worker yet, so their outbox rows stay pending.
    const sent = await insertMessages(db.sql, roomId, alice, [{ i: 0 }, { i: 1 }, { i: 2 }]);
    const b = await connect(gateway.port, bob, roomId);
    await b.waitForEvents(sent.length, roomId, 5000); // the backfill
    await sleep(11_000); // longer than the join waits (10 s) for its unpublished backfill to come live
    // Still unpublished when the join stopped waiting: nothing has reached the bus yet.
    const pending = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox
      WHERE type = 'message.created' AND room_id = ${roomId} AND status = 'pending' AND attempts = 0`;
    expect(pending[0]!.n, 'outbox rows of the messages still pending before the worker starts').toBe(sent.length);
    await startWorker();
    await a.waitForEvents(sent.length, roomId, 10_000); // now they are published
    await sentinel(b, roomId, alice);
    const got = receivedIds(b.events(roomId));
    expect(got.duplicates, `bob received ${JSON.stringify(got.ids)}`).toBe(0);
    expect(got.ids.slice(0, sent.length)).toEqual(sent);
  }, 60_000);

  it('does not deliver a republished row to a member who reconnected after the gateway dropped the room', async () => {
    const gateway = await startGateway();
    await startWorker();
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const first = await connect(gateway.port, bob, roomId);
    const [message] = await insertMessages(db.sql, roomId, alice, [{ text: 'published once' }]);
    await first.waitFor((f) => f.message?.id === message, 5000, 'the message, live');
    // Bob was the room's only member on this gateway: it forgets the room when he goes.
    first.close();
    await first.closed;
    await sleep(300);
    const b = await connect(gateway.port, bob, roomId); // not acked: the backfill carries the message again
    await b.waitFor((f) => f.message?.id === message, 5000, 'the message, in the backfill');
    await sleep(500);
    await republish(roomId, message!);
    await sentinel(b, roomId, alice);
    expect(
      b.events(roomId).filter((f) => f.message?.id === message),
      'copies of the message on the new connection',
    ).toHaveLength(1);
  }, 60_000);

  it('drops a republished row that comes after more than 1,024 newer messages', async () => {
    const gateway = await startGateway();
    await startWorker();
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const b = await connect(gateway.port, bob, roomId);
    const ids = await insertBacklog(db.sql, roomId, alice, 1100);
    await b.waitForEvents(ids.length, roomId, 20_000);
    await waitForOutboxDrained(db.sql);
    await republish(roomId, ids[0]!);
    await sentinel(b, roomId, alice);
    expect(
      b.events(roomId).filter((f) => f.message?.id === ids[0]),
      'copies of the first message',
    ).toHaveLength(1);
    expect(receivedIds(b.events(roomId)).duplicates).toBe(0);
  }, 60_000);
});
