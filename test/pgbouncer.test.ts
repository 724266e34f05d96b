// Through real PgBouncer in transaction pooling mode: no named prepared statements, no
// LISTEN; gateway and worker still work, with polling carrying the wake-up.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receivedIds } from './support/backlog';
import { startGatewayProcess, startNodeProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPgBouncer, type PrivateService } from './support/private-services';
import { createTestDatabase, databaseUrl, redisUrl, type TestDatabase } from './support/services';
import { TestClient } from './support/ws-client';

describe('through PgBouncer (pool_mode=transaction)', () => {
  let db: TestDatabase;
  let bouncer: PrivateService;
  const procs: RunningProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    bouncer = await startPgBouncer(Number(new URL(databaseUrl()).port || 5432), new URL(db.url).pathname.slice(1));
  });
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await bouncer.destroy();
    await db.drop();
  });

  it('migrates, chats, backfills and acks with DATABASE_POOL_MODE=transaction', async () => {
    const env = {
      DATABASE_URL: bouncer.url,
      DATABASE_POOL_MODE: 'transaction',
      REDIS_URL: redisUrl(),
      PUBSUB_MODE: 'perconv',
      LOG_LEVEL: 'info',
      POLL_INTERVAL_MS: '100',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
    };
    const migrate = startNodeProcess('shared/db/migrate-cli.ts', env);
    procs.push(migrate);
    expect(await migrate.exited).toBe(0);

    const gateway = await startGatewayProcess(env);
    const workers = [await startWorkerProcess({ ...env, WORKER_ID: 'b1' }), await startWorkerProcess({ ...env, WORKER_ID: 'b2' })];
    procs.push(gateway, ...workers);
    expect(workers[0]!.output()).toContain('"listen":false');

    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const a = await TestClient.connect(gateway.port);
    await a.login(alice, roomId);
    const sent: number[] = [];
    for (let i = 0; i < 30; i++) {
      const reply = await a.request({ op: 'send', room_id: roomId, content: { i } });
      if (!reply.success) throw new Error(`send failed: ${JSON.stringify(reply)}\n${gateway.output().slice(-2000)}`);
      sent.push(reply.message_id);
    }

    const b = await TestClient.connect(gateway.port);
    await b.login(bob, roomId); // backfill of all 30
    for (let i = 30; i < 60; i++) sent.push((await a.request({ op: 'send', room_id: roomId, content: { i } })).message_id);
    await b.waitForEvents(60, roomId, 20_000);
    const got = receivedIds(b.events(roomId));
    expect(got.ids).toEqual(sent);
    expect(got.duplicates).toBe(0);
    expect(await b.request({ op: 'ack', room_id: roomId, last_read_message_id: sent.at(-1) })).toMatchObject({
      success: true,
      last_read_message_id: sent.at(-1),
    });
    // Rows are marked published just after they are published: give the last batch a moment.
    const deadline = Date.now() + 10_000;
    let unpublished = -1;
    while (unpublished !== 0 && Date.now() < deadline) {
      unpublished = (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status <> 'published'`)[0]!.n;
      if (unpublished) await sleep(100);
    }
    expect(unpublished).toBe(0);
    for (const p of [gateway, ...workers]) {
      expect(p.output()).not.toMatch(/prepared statement .* (does not exist|already exists)/);
      expect(await p.stop()).toBe(0);
    }
  }, 90_000);
});
