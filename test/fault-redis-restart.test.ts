// Redis restarted while clients are connected and messages are being sent: gateway and
// worker reconnect by themselves, and every member ends up with every message, in order,
// none twice (Pub/Sub dropped what was published while Redis was down: the gateway
// catches up from PostgreSQL).
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receivedIds } from './support/backlog';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { membersInRoom } from './support/room-members';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { createTestDatabase, type TestDatabase } from './support/services';

for (const mode of ['global', 'perconv'] as const) {
  describe(`Redis restart (PUBSUB_MODE=${mode})`, () => {
    let db: TestDatabase;
    let redis: PrivateService;
    const procs: RunningProcess[] = [];
    beforeAll(async () => {
      db = await createTestDatabase();
      redis = await startPrivateRedis();
    });
    afterAll(async () => {
      for (const p of procs) p.child.kill('SIGKILL');
      await redis.destroy();
      await db.drop();
    });

    const envFor = () => ({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      PUBSUB_MODE: mode,
      LOG_LEVEL: 'info',
      POLL_INTERVAL_MS: '200',
      BACKOFF_BASE_MS: '200',
      BACKOFF_CAP_MS: '1000',
      MAX_ATTEMPTS: '50',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
    });

    it('catches up from PostgreSQL what was published while only its subscription was down', async () => {
      const env = envFor();
      // The sender's gateway publishes; the reader's gateway hears it only through Redis.
      const senders = await startGatewayProcess(env);
      const gateway = await startGatewayProcess(env);
      const worker = await startWorkerProcess(env);
      procs.push(senders, gateway, worker);
      const {
        roomId,
        clients: [sender, reader],
      } = await membersInRoom(db.sql, [senders.port, gateway.port], 2);
      const admin = new Redis(redis.url);
      admin.on('error', () => {});
      const acked: number[] = [];
      for (let i = 0; i < 120; i++) {
        // Every 20 messages, cut the gateways' subscriber connections; their publishers stay up.
        if (i % 20 === 10) await admin.client('KILL', 'TYPE', 'pubsub');
        acked.push((await sender!.request({ op: 'send', room_id: roomId, content: { i } })).message_id);
        await sleep(10);
      }
      await reader!.waitForEvents(acked.length, roomId, 20_000);
      await sleep(300);
      const got = receivedIds(reader!.events(roomId));
      expect(got.duplicates).toBe(0);
      expect(got.outOfOrder).toBe(0);
      expect(got.ids).toEqual(acked);
      expect(gateway.output()).toContain('caught up from PostgreSQL');
      await admin.quit();
      await Promise.all([senders.stop(), gateway.stop(), worker.stop()]);
    }, 60_000);

    it('delivers every message sent before, during and after the outage to every member', async () => {
      const env = envFor();
      const gateway = await startGatewayProcess(env);
      const worker = await startWorkerProcess(env);
      procs.push(gateway, worker);
      const { roomId, clients } = await membersInRoom(db.sql, gateway.port, 3);
      const sender = clients[0]!;

      const acked: number[] = [];
      let sending = true;
      const sendLoop = (async () => {
        for (let i = 0; sending; i++) {
          const reply = await sender.request({ op: 'send', room_id: roomId, content: { i } }, 10_000);
          if (reply.success) acked.push(reply.message_id);
          await sleep(20);
        }
      })();
      await sleep(500);
      const beforeOutage = acked.length;
      await redis.restart(1500);
      const duringOutage = acked.length - beforeOutage;
      await sleep(1500);
      sending = false;
      await sendLoop;

      for (const [i, client] of clients.entries()) {
        await client.waitForEvents(acked.length, roomId, 20_000).catch((err) => {
          throw new Error(`member ${i}: ${err.message}\n${gateway.output().slice(-2000)}`);
        });
        await sleep(300);
        const got = receivedIds(client.events(roomId));
        expect(got.duplicates).toBe(0);
        expect(got.outOfOrder).toBe(0);
        expect(got.ids).toEqual(acked);
      }
      console.log(
        `redis restart (${mode}): sent ${acked.length} (${duringOutage} while Redis was down), each of ${clients.length} members received ${clients[1]!.events(roomId).length}`,
      );
      expect(duringOutage).toBeGreaterThan(0);
      expect(gateway.alive() && worker.alive()).toBe(true);
      await gateway.stop();
      await worker.stop();
    }, 90_000);
  });
}
