// One stuck room must not starve the others. A worker that claimed a batch of room A and
// then hung (SIGSTOP: its locks stay until LOCK_SECONDS run out) rightly holds back room
// A's later rows; but another worker must still publish every other room — here a message
// to room B, while room A has more than BATCH_SIZE rows pending behind the stuck batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertBacklog } from './support/backlog';
import { sleep } from './support/bus-faults';
import { startGatewayProcess, startWorkerProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { processTestBed } from './support/process-bed';
import { TestClient } from './support/ws-client';

const BATCH_SIZE = 10;

describe('head-of-line blocking across rooms', () => {
  const bed = processTestBed();
  const { procs } = bed;
  let redis: PrivateService;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const p of procs) p.child.kill('SIGKILL'); // also ends a worker left stopped
    await Promise.all(procs.map((p) => p.exited));
    await redis?.destroy();
  });

  it('publishes a message to room B within 5 s while a hung worker holds a batch of room A (LOCK_SECONDS=30)', async () => {
    const env = {
      DATABASE_URL: bed.db.url, REDIS_URL: redis.url, PUBSUB_MODE: 'global', LOG_LEVEL: 'info',
      BATCH_SIZE: String(BATCH_SIZE), LOCK_SECONDS: '30', POLL_INTERVAL_MS: '200',
    };
    const gateway = await startGatewayProcess(env);
    procs.push(gateway);
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const roomA = await createRoom(bed.db.sql, [carol], 'room A');
    const roomB = await createRoom(bed.db.sql, [alice, bob], 'room B');
    const a = await TestClient.connect(gateway.port);
    const b = await TestClient.connect(gateway.port);
    clients.push(a, b);
    await a.login(alice, roomB);
    await b.login(bob, roomB);

    await insertBacklog(bed.db.sql, roomA, carol, 3000);
    const stuck = await startWorkerProcess({ ...env, WORKER_ID: 'stuck' });
    procs.push(stuck);
    // Freeze it the moment it is seen holding a claimed batch (let it go on if, frozen, it turns out not to).
    const holding = async () => (await bed.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status = 'in_progress' AND locked_by = 'stuck'`)[0]!.n;
    const deadline = Date.now() + 15_000;
    for (let held = 0; held === 0; ) {
      if (Date.now() > deadline) throw new Error('the worker was never caught holding a batch');
      if ((await holding()) > 0) {
        stuck.child.kill('SIGSTOP');
        // A statement it sent just before (say, marking the batch published) still runs in
        // PostgreSQL: let it finish, then see whether a batch is really held.
        await sleep(300);
        held = await holding();
        if (held === 0) stuck.child.kill('SIGCONT');
      } else {
        await sleep(2);
      }
    }
    const [row] = await bed.db.sql<{ pending: number }[]>`SELECT count(*)::int AS pending FROM outbox WHERE room_id = ${roomA} AND status = 'pending'`;
    expect(row!.pending, 'room A rows pending behind the stuck batch').toBeGreaterThanOrEqual(BATCH_SIZE);

    const free = await startWorkerProcess({ ...env, WORKER_ID: 'free' });
    procs.push(free);
    const reply = await a.request({ op: 'send', room_id: roomB, content: { text: 'room B is not room A' } });
    expect(reply.success).toBe(true);
    await b.waitFor((f) => f.op === 'event' && f.message?.id === reply.message_id, 5000, 'the room B message at bob').catch(async (err: Error) => {
      const statuses = await bed.db.sql`SELECT room_id = ${roomB} AS room_b, status::text, locked_by, count(*)::int FROM outbox GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;
      throw new Error(`${err.message}\noutbox: ${JSON.stringify(statuses)}`);
    });
  }, 60_000);
});
