// A worker killed with SIGKILL in the middle of a batch: after its locks expire another
// worker reclaims the rows; every message reaches the clients, none twice, in order.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { insertBacklog, receivedIds, waitForOutboxDrained } from './support/backlog';
import { startGatewayProcess, startWorkerProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { processTestBed } from './support/process-bed';
import { redisUrl } from './support/services';
import { TestClient } from './support/ws-client';

describe('worker SIGKILL mid-batch', () => {
  const bed = processTestBed();
  const { procs } = bed;

  it('reclaims the dead worker rows after LOCK_SECONDS and delivers every message exactly once', async () => {
    // This test is about the worker: give the test client room to read a burst.
    const env = { DATABASE_URL: bed.db.url, REDIS_URL: redisUrl(), PUBSUB_MODE: 'perconv', LOG_LEVEL: 'info', WS_SEND_HIGH_WATER: String(64 * 1024 * 1024) };
    const gateway = await startGatewayProcess(env);
    procs.push(gateway);
    const [sender, reader] = [newUser(), newUser()];
    const roomId = await createRoom(bed.db.sql, [sender, reader]);
    const client = await TestClient.connect(gateway.port);
    await client.login(reader, roomId);

    const ids = await insertBacklog(bed.db.sql, roomId, sender, 20_000);
    const workerEnv = { ...env, BATCH_SIZE: '500', LOCK_SECONDS: '2', REAP_INTERVAL_MS: '300', POLL_INTERVAL_MS: '100' };
    const doomed = await startWorkerProcess({ ...workerEnv, WORKER_ID: 'doomed' });
    procs.push(doomed);
    // Freeze it the moment it is seen holding a claimed batch; kill it if, frozen, it still does.
    const holding = async () =>
      (await bed.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status = 'in_progress' AND locked_by = 'doomed'`)[0]!.n;
    const deadline = Date.now() + 15_000;
    let held = 0;
    while (held === 0) {
      if (Date.now() > deadline) throw new Error('the worker was never caught holding a batch');
      if ((await holding()) > 0 && client.events(roomId).length > 0) {
        doomed.child.kill('SIGSTOP');
        held = await holding();
        doomed.child.kill(held > 0 ? 'SIGKILL' : 'SIGCONT');
      } else {
        await sleep(2);
      }
    }
    await doomed.exited;

    const rescuer = await startWorkerProcess({ ...workerEnv, WORKER_ID: 'rescuer' });
    procs.push(rescuer);
    await client.waitForEvents(ids.length, roomId, 60_000).catch(async (err) => {
      console.log(await bed.db.sql`SELECT status::text, locked_by, count(*)::int FROM outbox GROUP BY 1, 2`);
      console.log('closed?', await Promise.race([client.closed, new Promise((r) => setTimeout(() => r('open'), 10))]));
      console.log(gateway.output().slice(-3000));
      console.log(rescuer.output().slice(-3000));
      throw err;
    });
    await sleep(500); // a late duplicate would show up now

    const got = receivedIds(client.events(roomId));
    console.log(`worker kill: sent ${ids.length}, received ${got.ids.length}, rows held by the killed worker ${held}, duplicates ${got.duplicates}`);
    expect(got.ids).toEqual(ids);
    expect(got.duplicates).toBe(0);
    // Gateways may deliver from PostgreSQL before the worker has published (a gap read): the
    // outbox drains on its own time.
    await waitForOutboxDrained(bed.db.sql, 30_000);
    const [left] = await bed.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status <> 'published'`;
    expect(left!.n).toBe(0);
    await rescuer.stop();
    await gateway.stop();
  }, 90_000);
});
