// Gateways and a chat worker on a real Redis Cluster (3 masters, a replica each; sharded
// Pub/Sub per room) while messages are being sent: the master serving some of the rooms
// is killed and its replica promoted. Every member ends up with every message, in order,
// none twice — what the dead master dropped is read back from PostgreSQL.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roomChannel } from '../shared/bus/channels';
import { keySlot } from '../shared/redis-cluster';
import { receivedIds } from './support/backlog';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { startRedisCluster, type PrivateRedisCluster } from './support/redis-cluster';
import { membersInRoom } from './support/room-members';
import { createTestDatabase, type TestDatabase } from './support/services';
import type { TestClient } from './support/ws-client';

const ROOMS = 6;

describe('on a Redis Cluster (PUBSUB_MODE=perconv, sharded Pub/Sub)', () => {
  let db: TestDatabase;
  let cluster: PrivateRedisCluster;
  const procs: RunningProcess[] = [];
  const clients: TestClient[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await cluster?.destroy();
    await db?.drop();
  });

  it('delivers every message to every member while a master is killed and its replica takes over', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: `redis+cluster://${cluster.seeds}`,
      PUBSUB_MODE: 'perconv',
      LOG_LEVEL: 'info',
      POLL_INTERVAL_MS: '200',
      BACKOFF_BASE_MS: '200',
      BACKOFF_CAP_MS: '1000',
      MAX_ATTEMPTS: '100',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
      BUS_HEARTBEAT_MS: '300',
    };
    // Senders on one gateway, readers on the other: a reader hears a message only through Redis.
    const senders = await startGatewayProcess(env);
    const readers = await startGatewayProcess(env);
    const worker = await startWorkerProcess(env);
    procs.push(senders, readers, worker);
    const rooms = [];
    for (let i = 0; i < ROOMS; i++) {
      const room = await membersInRoom(db.sql, [senders.port, readers.port], 2);
      clients.push(...room.clients);
      rooms.push({ roomId: room.roomId, sender: room.clients[0]!, reader: room.clients[1]!, acked: [] as number[], duringFailover: 0 });
    }
    const masters = new Set(rooms.map((r) => cluster.masterOf(keySlot(roomChannel(r.roomId)))));
    expect(masters.size, 'masters serving the rooms').toBeGreaterThan(1);

    let sending = true;
    let failingOver = false;
    const loops = rooms.map(async (room) => {
      for (let i = 0; sending; i++) {
        const reply = await room.sender.request({ op: 'send', room_id: room.roomId, content: { i } }, 10_000).catch(() => null);
        if (reply?.success) {
          room.acked.push(reply.message_id);
          if (failingOver) room.duringFailover++;
        }
        await sleep(25);
      }
    });
    await sleep(1000);
    const victim = rooms[0]!;
    failingOver = true;
    const killed = await cluster.killMasterOf(keySlot(roomChannel(victim.roomId)));
    failingOver = false;
    await sleep(1500);
    sending = false;
    await Promise.all(loops);

    for (const [i, room] of rooms.entries()) {
      await room.reader.waitForEvents(room.acked.length, room.roomId, 30_000).catch((err: Error) => {
        throw new Error(`room ${i}: ${err.message}\nreaders' gateway:\n${readers.output().slice(-2500)}`);
      });
    }
    await sleep(300);
    for (const room of rooms) {
      const got = receivedIds(room.reader.events(room.roomId));
      expect(got.duplicates).toBe(0);
      expect(got.outOfOrder).toBe(0);
      expect(got.ids).toEqual(room.acked);
    }
    expect(cluster.masterOf(keySlot(roomChannel(victim.roomId))), 'the victim room\u2019s new master').not.toBe(killed);
    expect(readers.output(), 'the readers\u2019 gateway read back what the dead master dropped').toContain('caught up from PostgreSQL');
    expect(victim.duringFailover, 'messages of the victim room acked while its master was down or being replaced').toBeGreaterThan(0);
    console.log(
      `redis cluster failover: ${rooms.map((r) => r.acked.length).join('/')} messages per room (victim room: ${victim.duringFailover} acked during the failover), every reader got all, in order`,
    );
    for (const p of [senders, readers, worker]) expect(p.alive()).toBe(true);
  }, 120_000);
});
