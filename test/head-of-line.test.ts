// One stuck room must not starve the others. A worker that claimed a batch of room A and
// then hung (SIGSTOP: its locks stay until LOCK_SECONDS run out) rightly holds back room
// A's later rows; but another worker must still publish every other room — here a message
// to room B, while room A has more than BATCH_SIZE rows pending behind the stuck batch.
// The gateway runs without the fast path (OUTBOX_FAST_PATH=false), so the room B message
// reaches bob only if the free worker claims its row: the test checks the row is still
// pending when that worker starts, and that the stuck batch was still locked when bob got it.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertBacklog } from './support/backlog';
import { startGatewayProcess, startWorkerProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { processTestBed } from './support/process-bed';
import { TestClient } from './support/ws-client';

const BATCH_SIZE = 10;
/** Far beyond the time the test takes: the stuck batch must not be reaped while it runs. */
const LOCK_SECONDS = 120;

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

  it(`a free worker publishes a message to room B while a hung worker holds a batch of room A (LOCK_SECONDS=${LOCK_SECONDS})`, async () => {
    const env = {
      DATABASE_URL: bed.db.url,
      REDIS_URL: redis.url,
      PUBSUB_MODE: 'global',
      LOG_LEVEL: 'info',
      BATCH_SIZE: String(BATCH_SIZE),
      LOCK_SECONDS: String(LOCK_SECONDS),
      POLL_INTERVAL_MS: '200',
    };
    // No fast path: the gateway leaves its sends to the workers.
    const gateway = await startGatewayProcess({ ...env, OUTBOX_FAST_PATH: 'false' });
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
    const holding = async () =>
      (await bed.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status = 'in_progress' AND locked_by = 'stuck'`)[0]!.n;
    const deadline = Date.now() + 15_000;
    let held = 0;
    while (held === 0) {
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

    const reply = await a.request({ op: 'send', room_id: roomB, content: { text: 'room B is not room A' } });
    expect(reply.success).toBe(true);
    // Nobody publishes it yet (no fast path, the only worker is stopped): its id is above
    // every room A row, so a claim that takes candidates from the first BATCH_SIZE pending rows
    // without passing over held-back room A never reaches it.
    const roomBRows = await bed.db.sql<{ status: string; locked_by: string | null }[]>`
      SELECT status::text, locked_by FROM outbox WHERE room_id = ${roomB} AND type = 'message.created'`;
    expect(roomBRows, 'the room B message\u2019s outbox row, before the free worker starts').toEqual([{ status: 'pending', locked_by: null }]);

    const free = await startWorkerProcess({ ...env, WORKER_ID: 'free' });
    procs.push(free);
    // Generous for 2 busy cores (the free worker claims it on its first poll); far below LOCK_SECONDS.
    await b
      .waitFor((f) => f.op === 'event' && f.message?.id === reply.message_id, 15_000, 'the room B message at bob')
      .catch(async (err: Error) => {
        const statuses = await bed.db
          .sql`SELECT room_id = ${roomB} AS room_b, status::text, locked_by, count(*)::int FROM outbox GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;
        throw new Error(`${err.message}\noutbox: ${JSON.stringify(statuses)}`);
      });
    // Room A was still stuck when bob got it: the stuck batch still locked, none of its rows reaped.
    const [stillHeld] = await bed.db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM outbox WHERE status = 'in_progress' AND locked_by = 'stuck' AND locked_until > now()`;
    expect(stillHeld!.n, 'room A rows the stuck worker still holds').toBe(held);
  }, 90_000);
});
