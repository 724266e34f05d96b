// A gateway must notice when it cannot hear the bus, and must hear it again after a blip.
// A blip where the reconnect is accepted and then dropped (or refused by Redis at
// maxclients) swallows ioredis' automatic re-SUBSCRIBE — ioredis 5 even reports itself
// ready on the dead connection and stops reconnecting — so the gateway goes deaf: its
// channel has no subscriber (PUBSUB NUMSUB 0), no member on it receives anything, and
// GET /ready still answers 200. The gateway reaches Redis through a TCP proxy here
// (test/support/tcp-proxy.ts); the worker talks to Redis directly and keeps publishing.
//
// A gateway hands its own sends to its own sockets without Redis (the fast path), so a
// message sent and read on one gateway proves nothing about the bus. Every message here is
// written straight to the database instead (its outbox row pending, test/support/backlog.ts)
// and published by the worker: the gateway stores none of them, and the newest one is read
// from PostgreSQL only by a catch-up after a reconnect — so each test also asserts that
// Redis counts a subscriber on the room's channel (PUBSUB NUMSUB) after the blip.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelFor } from '../shared/bus/channels';
import { insertMessages } from './support/backlog';
import { subscriberCount, until } from './support/bus-faults';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { scrape, valueOf } from './support/prometheus';
import { membersInRoom } from './support/room-members';
import { createTestDatabase, type TestDatabase } from './support/services';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';
import { TestClient } from './support/ws-client';

/** arcyou_gateway_ready from the gateway's /metrics. */
const readyGauge = async (port: number): Promise<number> => valueOf(await scrape(`http://127.0.0.1:${port}/metrics`), 'arcyou_gateway_ready');
const readyStatus = async (port: number): Promise<number> => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
};

for (const mode of ['global', 'perconv'] as const) {
  describe(`bus liveness (PUBSUB_MODE=${mode})`, () => {
    let db: TestDatabase;
    let redis: PrivateService;
    let admin: Redis;
    const proxies: TcpProxy[] = [];
    const procs: RunningProcess[] = [];
    const clients: TestClient[] = [];

    beforeAll(async () => {
      db = await createTestDatabase();
      redis = await startPrivateRedis();
      admin = new Redis(redis.url);
      admin.on('error', () => {});
      // One worker, straight to Redis, for the whole file: it keeps publishing whatever the gateway goes through.
      const worker = await startWorkerProcess({ ...baseEnv(), REDIS_URL: redis.url, POLL_INTERVAL_MS: '100' });
      procs.push(worker);
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      for (const p of procs) p.child.kill('SIGKILL');
      for (const p of proxies) await p.close();
      await admin?.quit().catch(() => {});
      await redis?.destroy();
      await db?.drop();
    });

    const baseEnv = () => ({
      DATABASE_URL: db.url,
      PUBSUB_MODE: mode,
      LOG_LEVEL: 'info',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
      // Settings of the fixed gateway (ignored by older ones): a fast bus heartbeat and gap read.
      BUS_HEARTBEAT_MS: '300',
      DELIVERY_HOLD_MS: '100',
    });

    /** A gateway whose Redis connections all go through a fresh proxy, with two joined members. */
    const gatewayBehindProxy = async () => {
      const proxy = await startTcpProxy(redis.port);
      proxies.push(proxy);
      const gateway = await startGatewayProcess({ ...baseEnv(), REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
      procs.push(gateway);
      const room = await membersInRoom(db.sql, gateway.port, 2);
      clients.push(...room.clients);
      return { proxy, gateway, ...room, sender: room.clients[0]!, reader: room.clients[1]! };
    };

    const subscribers = (channel: string) => subscriberCount(admin, channel);

    /**
     * A message from `userId` that only the bus can bring to `readers`: written straight to
     * the database (no gateway stores or publishes it; its outbox row is left pending) and
     * published by the worker, which talks to Redis directly. Resolves once every reader got
     * it live; rejects after `timeoutMs`, with `context` (the gateway's state) in the message.
     */
    const viaTheBus = async (readers: TestClient[], roomId: string, userId: string, text: string, timeoutMs: number, context?: () => Promise<string>) => {
      const [id] = await insertMessages(db.sql, roomId, userId, [{ text }]);
      try {
        await Promise.all(
          readers.map((reader) =>
            reader.waitFor((f) => f.op === 'event' && f.message?.id === id, timeoutMs, `message "${text}" (${id}), published by the worker, at a member`),
          ),
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}${context ? `\n${await context()}` : ''}`, { cause: err });
      }
      return id!;
    };

    /** Waits (until `deadline`) for Redis to count a subscriber on each of the channels: the gateway subscribed them again. */
    const subscribedAgain = async (channels: string[], deadline: number, gateway: RunningProcess) => {
      for (const channel of channels) {
        await until(`a subscriber on ${channel} after the blip`, async () => (await subscribers(channel)) >= 1, Math.max(0, deadline - Date.now()), 100).catch(
          (err: Error) => {
            throw new Error(`${err.message}\n${gateway.output().slice(-1500)}`);
          },
        );
      }
    };

    /** Within 10 s, the room's channel has a subscriber again and a message only the bus brings reaches the members. */
    const hearsAgain = async (gateway: RunningProcess, channel: string, members: TestClient[], roomId: string, senderId: string) => {
      const deadline = Date.now() + 10_000;
      await subscribedAgain([channel], deadline, gateway);
      await viaTheBus(members, roomId, senderId, 'after the blip', Math.max(1000, deadline - Date.now()), stateOf(gateway, [channel]));
      expect(await subscribers(channel)).toBeGreaterThanOrEqual(1);
    };

    /** What the gateway looks like from outside, for a failure message. */
    const stateOf = (gateway: RunningProcess, channels: string[]) => async () =>
      `${(await Promise.all(channels.map(async (c) => `PUBSUB NUMSUB ${c} = ${await subscribers(c)}`))).join(', ')}\n${gateway.output().slice(-1500)}`;

    /**
     * The gateway's subscriber connection dies, and for a while (2 s) every reconnect is
     * accepted and dropped at once (the publisher's connection is left alone). Resolves once
     * the proxy forwards again and the gateway had the time to reconnect (it may not: an
     * ioredis client whose handshake was dropped can report itself ready and stop retrying).
     */
    const blip = async (proxy: TcpProxy, during?: () => Promise<void>) => {
      const forwardedBefore = proxy.forwarded();
      await proxy.setMode('accept-then-drop');
      await admin.client('KILL', 'TYPE', 'pubsub');
      await until('a reconnect accepted and dropped', () => proxy.dropped() >= 1, 10_000);
      const blipEnds = Date.now() + 2000;
      await during?.();
      await sleep(blipEnds - Date.now());
      await proxy.setMode('forward');
      await until('the gateway connected again', () => proxy.forwarded() >= forwardedBefore, 3000).catch(() => {});
      await sleep(300); // let the reconnect settle: a send from here on is really "after the blip"
    };

    it('delivers messages to members again within 10 s after a blip that swallowed the re-subscribe', async () => {
      const { proxy, gateway, roomId, users, clients: members } = await gatewayBehindProxy();
      const channel = channelFor(mode, roomId);
      await viaTheBus(members, roomId, users[0]!, 'before the blip', 5000);
      await blip(proxy);
      await hearsAgain(gateway, channel, members, roomId, users[0]!);
      await gateway.stop();
    }, 60_000);

    it('answers /ready with 503 while it cannot hear the bus, and 200 again only once it hears it', async () => {
      const { proxy, gateway, roomId, users, reader } = await gatewayBehindProxy();
      await viaTheBus([reader], roomId, users[0]!, 'before the blip', 5000);
      expect(await readyStatus(gateway.port)).toBe(200);
      const seen: number[] = [];
      await blip(proxy, async () => {
        // The subscriber cannot get a connection: within 5 s /ready must say so.
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) {
          const status = await readyStatus(gateway.port);
          seen.push(status);
          if (status === 503) break;
          await sleep(100);
        }
        expect(seen.at(-1), `GET /ready while the gateway's subscriber could not connect (statuses seen: ${[...new Set(seen)].join(', ')})`).toBe(503);
        // The metric alerts are built on says the same.
        expect(await readyGauge(gateway.port)).toBe(0);
      });
      // Once it says 200 again, it hears the bus: its channel has a subscriber and a message comes through.
      await until('/ready answering 200 after the blip', async () => (await readyStatus(gateway.port)) === 200, 10_000, 100);
      expect(await readyGauge(gateway.port)).toBe(1);
      expect(await subscribers(channelFor(mode, roomId)), `subscribers on ${channelFor(mode, roomId)} while /ready says 200`).toBeGreaterThanOrEqual(1);
      await viaTheBus([reader], roomId, users[0]!, 'after the blip', 10_000, stateOf(gateway, [channelFor(mode, roomId)]));
      await gateway.stop();
    }, 60_000);

    // Redis at maxclients is the same blip without a proxy; once is enough (global mode).
    if (mode === 'global')
      it('delivers messages to members again within 10 s after Redis refused its reconnects at maxclients', async () => {
        // No proxy: Redis itself accepts the connection, answers "max number of clients reached" and closes it.
        const gateway = await startGatewayProcess({ ...baseEnv(), REDIS_URL: redis.url });
        procs.push(gateway);
        const { roomId, users, clients: members } = await membersInRoom(db.sql, gateway.port, 2);
        clients.push(...members);
        const channel = channelFor(mode, roomId);
        await viaTheBus(members, roomId, users[0]!, 'before the blip', 5000);

        const info = async (section: string, field: string) => Number(((await admin.info(section)).match(new RegExp(`^${field}:(\\d+)`, 'm')) ?? [])[1]);
        const connected = await info('clients', 'connected_clients');
        const rejectedBefore = await info('stats', 'rejected_connections');
        // Room for exactly the connections there are once the gateway's subscriber is gone.
        await admin.config('SET', 'maxclients', String(connected - 1));
        try {
          await admin.client('KILL', 'TYPE', 'pubsub');
          await until('a reconnect refused at maxclients', async () => (await info('stats', 'rejected_connections')) > rejectedBefore, 10_000, 50);
          await sleep(2000);
        } finally {
          await admin.config('SET', 'maxclients', '10000');
        }
        await until('the gateway connected again', async () => (await info('clients', 'connected_clients')) >= connected, 3000).catch(() => {});
        await sleep(300);
        // It hears Redis again: its channel has a subscriber, and a message only the bus brings reaches both members.
        await hearsAgain(gateway, channel, members, roomId, users[0]!);
        await gateway.stop();
      }, 60_000);

    // perconv: a join subscribes its room's channel (unless the gateway has it already). After a
    // blip, a gateway that believes its channels subscribed, or whose SUBSCRIBE went to a
    // connection that is not really there, leaves the new join deaf.
    if (mode === 'perconv')
      it('hears the bus for joins made after a blip: a third member of a room it has, and a room new to it', async () => {
        const { proxy, gateway, roomId, users, reader } = await gatewayBehindProxy();
        await viaTheBus([reader], roomId, users[0]!, 'before the blip', 5000);
        await blip(proxy);
        const deadline = Date.now() + 10_000;
        // After the blip, carol — a third member of the room, and the only member here of a new room — joins both.
        const carolId = newUser();
        await db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${carolId})`;
        const newRoomId = await createRoom(db.sql, [carolId, users[0]!]);
        const carol = await TestClient.connect(gateway.port);
        clients.push(carol);
        expect((await carol.request({ op: 'auth', token: carolId })).success).toBe(true);
        for (const id of [roomId, newRoomId]) {
          // A join waits for its room to hear the bus; the subscriber may still be getting its connection back.
          const join = await carol.request({ op: 'join', room_id: id }, 15_000);
          expect(join.success, `carol's join of ${id} after the blip: ${JSON.stringify(join)}`).toBe(true);
        }
        const channels = [channelFor(mode, roomId), channelFor(mode, newRoomId)];
        await subscribedAgain(channels, deadline, gateway);
        await viaTheBus([carol], newRoomId, users[0]!, 'in the new room, after the blip', Math.max(1000, deadline - Date.now()), stateOf(gateway, channels));
        await viaTheBus(
          [carol, reader],
          roomId,
          users[0]!,
          'in the old room, after the blip',
          Math.max(1000, deadline - Date.now()),
          stateOf(gateway, channels),
        );
        for (const channel of channels) expect(await subscribers(channel), `subscribers on ${channel}`).toBeGreaterThanOrEqual(1);
        await gateway.stop();
      }, 60_000);
  });
}
