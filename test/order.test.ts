// With four workers running, every client still sees each room's messages in id order.
import { describe, expect, it } from 'vitest';
import { insertBacklog, receivedIds } from './support/backlog';
import { startGatewayProcess, startWorkerProcess } from './support/child-process';
import { membersInRoom } from './support/room-members';
import { processTestBed } from './support/process-bed';
import { redisUrl } from './support/services';

describe('per-room order with 4 workers', () => {
  const bed = processTestBed();
  const { procs } = bed;

  it('delivers each room in id order, complete, from a backlog and from live sends', async () => {
    const env = {
      DATABASE_URL: bed.db.url,
      REDIS_URL: redisUrl(),
      PUBSUB_MODE: 'global',
      LOG_LEVEL: 'info',
      RL_BUCKET_CAPACITY: '100000',
      RL_REFILL_MS: '1000',
    };
    const gateway = await startGatewayProcess(env);
    procs.push(gateway);
    const rooms = await Promise.all(Array.from({ length: 4 }, () => membersInRoom(bed.db.sql, gateway.port, 2)));
    // A backlog in every room, then four workers at once with small batches.
    const expected = new Map<string, number[]>();
    for (const room of rooms) expected.set(room.roomId, await insertBacklog(bed.db.sql, room.roomId, room.users[0]!, 400));
    for (let w = 0; w < 4; w++) procs.push(await startWorkerProcess({ ...env, WORKER_ID: `w${w}`, BATCH_SIZE: '7', POLL_INTERVAL_MS: '50' }));
    // Live sends in every room while the backlog drains.
    await Promise.all(
      rooms.map(async (room) => {
        for (let i = 0; i < 60; i++) {
          const reply = await room.clients[0]!.request({ op: 'send', room_id: room.roomId, content: { live: i } });
          expected.get(room.roomId)!.push(reply.message_id);
        }
      }),
    );
    for (const room of rooms) {
      const want = expected.get(room.roomId)!;
      for (const client of room.clients) {
        await client.waitForEvents(want.length, room.roomId, 30_000);
        const got = receivedIds(client.events(room.roomId));
        expect(got.outOfOrder).toBe(0);
        expect(got.duplicates).toBe(0);
        expect(got.ids).toEqual(want);
      }
    }
    const [workers] = await bed.db.sql<{ n: number }[]>`SELECT count(DISTINCT locked_by)::int AS n FROM outbox`; // cleared on publish: sanity only
    expect(workers).toBeDefined();
  }, 120_000);
});
