// Typing and read receipts: ephemeral events to the room's other sockets on every gateway,
// never to the sender, never stored; typing is throttled per socket, receipts coalesced.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECEIPT_INTERVAL_MS, TYPING_INTERVAL_MS } from '../gateway/ops/ephemeral';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { processTestBed } from './support/process-bed';
import { redisUrl } from './support/services';
import { clientPool } from './support/client-pool';
import type { TestClient } from './support/ws-client';

for (const mode of ['global', 'perconv'] as const) {
  describe(`typing and read receipts (PUBSUB_MODE=${mode})`, () => {
    const bed = processTestBed();
    let gateways: Array<RunningProcess & { port: number }>;
    const clients = clientPool();
    const connect = (gateway: number, userId: string, roomId: string) => clients.member(gateways[gateway]!.port, userId, roomId);
    const ofType = (c: TestClient, type: string) => c.frames.filter((f) => f.op === 'event' && f.type === type);

    beforeAll(async () => {
      const env = { DATABASE_URL: bed.db.url, REDIS_URL: redisUrl(), PUBSUB_MODE: mode, LOG_LEVEL: 'info', RL_BUCKET_CAPACITY: '10000', RL_REFILL_MS: '1000' };
      gateways = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
      bed.procs.push(...gateways, await startWorkerProcess(env));
    });
    afterAll(() => {
      clients.closeAll();
    });

    it('sends typing to the other members on both gateways, not to the sender, at most once a second per socket', async () => {
      const [alice, bob, carol, dave] = [newUser(), newUser(), newUser(), newUser()];
      const roomId = await createRoom(bed.db.sql, [alice, bob, carol]);
      const elsewhere = await createRoom(bed.db.sql, [dave]);
      const a = await connect(0, alice, roomId);
      const b = await connect(0, bob, roomId);
      const c = await connect(1, carol, roomId);
      const d = await connect(1, dave, elsewhere);
      for (let i = 0; i < 3; i++) expect(await a.request({ op: 'typing', room_id: roomId })).toMatchObject({ success: true, room_id: roomId });
      for (const other of [b, c]) await other.waitFor((f) => f.type === 'typing', 5000);
      await sleep(300);
      for (const other of [b, c]) {
        expect(ofType(other, 'typing')).toHaveLength(1);
        expect(ofType(other, 'typing')[0]).toMatchObject({ roomId, data: { user_id: alice } });
        expect(ofType(other, 'typing')[0]!.seq).toBeUndefined();
      }
      expect(ofType(a, 'typing')).toEqual([]);
      expect(ofType(d, 'typing')).toEqual([]);
      await sleep(TYPING_INTERVAL_MS);
      await a.request({ op: 'typing', room_id: roomId });
      await c.waitFor((f) => f.type === 'typing' && ofType(c, 'typing').length === 2, 5000);
      expect(await d.request({ op: 'typing', room_id: roomId })).toMatchObject({ success: false, error: 'Forbidden: not joined' });
      expect(await bed.db.sql`SELECT 1 FROM outbox WHERE room_id = ${roomId} AND type = 'typing'`).toHaveLength(0);
    });

    it('tells the others how far a member has read, coalescing quick acks into the latest position', async () => {
      const [alice, bob, carol] = [newUser(), newUser(), newUser()];
      const roomId = await createRoom(bed.db.sql, [alice, bob, carol]);
      const a = await connect(0, alice, roomId);
      const b = await connect(0, bob, roomId);
      const c = await connect(1, carol, roomId);
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await a.request({ op: 'send', room_id: roomId, content: { i } })).message_id);
      await b.waitForEvents(5, roomId);
      for (const id of ids) await b.request({ op: 'ack', room_id: roomId, last_read_message_id: id });
      await c.waitFor((f) => f.type === 'member.read' && f.data.last_read_message_id === ids[4], RECEIPT_INTERVAL_MS + 5000);
      await sleep(RECEIPT_INTERVAL_MS + 300);
      for (const other of [a, c]) {
        const reads = ofType(other, 'member.read');
        expect(reads.length).toBeGreaterThanOrEqual(1);
        expect(reads.length).toBeLessThanOrEqual(2); // the first at once, the rest as one
        expect(reads.at(-1)).toMatchObject({ data: { user_id: bob, last_read_message_id: ids[4] } });
      }
      expect(ofType(b, 'member.read')).toEqual([]);
      // An ack that does not move the position tells nobody.
      await b.request({ op: 'ack', room_id: roomId, last_read_message_id: ids[1] });
      await sleep(RECEIPT_INTERVAL_MS + 300);
      expect(ofType(c, 'member.read').at(-1)!.data.last_read_message_id).toBe(ids[4]);
      expect(ofType(c, 'member.read').length).toBeLessThanOrEqual(2);
    });
  });
}
