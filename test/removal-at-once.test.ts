// A member removed through the server API is cut off at once on every gateway — before any
// outbox worker publishes the removal, here with none running — and typing in the room no
// longer reaches it. When a worker publishes the removal later, nobody is told twice.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { apiCaller } from './support/http-api';
import { processTestBed } from './support/process-bed';
import { redisUrl } from './support/services';
import { clientPool } from './support/client-pool';
import type { TestClient } from './support/ws-client';

const KEY = 'removal-test-key';

for (const mode of ['global', 'perconv'] as const) {
  describe(`removal through the API (PUBSUB_MODE=${mode})`, () => {
    const bed = processTestBed();
    let gateways: Array<RunningProcess & { port: number }>;
    let env: Record<string, string>;
    const clients = clientPool();
    const connect = (gateway: number, userId: string, roomId: string) => clients.member(gateways[gateway]!.port, userId, roomId);
    const ofType = (c: TestClient, type: string) => c.frames.filter((f) => f.op === 'event' && f.type === type);

    beforeAll(async () => {
      env = {
        DATABASE_URL: bed.db.url,
        REDIS_URL: redisUrl(),
        PUBSUB_MODE: mode,
        LOG_LEVEL: 'info',
        RL_BUCKET_CAPACITY: '10000',
        RL_REFILL_MS: '1000',
        SERVER_API_KEYS: KEY,
      };
      gateways = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
      bed.procs.push(...gateways); // no worker yet
    });
    afterAll(() => {
      clients.closeAll();
    });

    it('cuts the member off on both gateways with no worker running, keeps typing from it, and tells nobody twice once a worker runs', async () => {
      const [alice, bob, carol] = [newUser(), newUser(), newUser()];
      const roomId = await createRoom(bed.db.sql, [alice, bob, carol]);
      const a = await connect(0, alice, roomId);
      const b0 = await connect(0, bob, roomId);
      const b1 = await connect(1, bob, roomId);
      const c = await connect(1, carol, roomId);
      expect((await apiCaller(gateways[0]!.port, KEY)('DELETE', `/v1/rooms/${roomId}/members/${bob}`)).status).toBe(204);
      for (const member of [b0, b1, a, c]) await member.waitFor((f) => f.type === 'member.removed' && f.data?.user_id === bob, 5000);
      // Typing after the removal reaches the members, not Bob.
      await a.request({ op: 'typing', room_id: roomId });
      await c.waitFor((f) => f.type === 'typing', 5000);
      await sleep(300);
      expect(ofType(b0, 'typing')).toEqual([]);
      expect(ofType(b1, 'typing')).toEqual([]);
      expect(await b1.request({ op: 'typing', room_id: roomId })).toMatchObject({ success: false });
      // The outbox row is still pending; a worker publishes it now: no second member.removed.
      const [row] = await bed.db.sql<{ status: string }[]>`SELECT status::text FROM outbox WHERE room_id = ${roomId} AND type = 'member.removed'`;
      expect(row!.status).toBe('pending');
      bed.procs.push(await startWorkerProcess(env));
      await expect
        .poll(async () => (await bed.db.sql`SELECT 1 FROM outbox WHERE room_id = ${roomId} AND status = 'published'`).length, { timeout: 10_000 })
        .toBe(1);
      await sleep(500);
      for (const member of [a, c, b0, b1]) expect(ofType(member, 'member.removed')).toHaveLength(1);
    });
  });
}
