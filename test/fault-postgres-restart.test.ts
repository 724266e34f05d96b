// PostgreSQL restarted: sends during the outage get a clear error, never a false success;
// afterwards gateway and worker recover by themselves, LISTEN included.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../shared/db/client';
import { migrate } from '../shared/db/migrate';
import { receivedIds } from './support/backlog';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivatePostgres, type PrivateService } from './support/private-services';
import { redisUrl } from './support/services';
import { TestClient } from './support/ws-client';

describe('PostgreSQL restart', () => {
  let pg: PrivateService;
  let sql: Sql;
  const procs: RunningProcess[] = [];
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    sql = createSql(pg.url, { max: 2 });
    await migrate(sql);
  });
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await sql.end({ timeout: 1 });
    await pg.destroy();
  });

  it('refuses sends while it is down, then recovers without restarting anything', async () => {
    // A 5 s poll: delivery within it after the restart shows LISTEN came back too.
    const env = {
      DATABASE_URL: pg.url,
      REDIS_URL: redisUrl(),
      PUBSUB_MODE: 'perconv',
      LOG_LEVEL: 'info',
      POLL_INTERVAL_MS: '5000',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
    };
    const gateway = await startGatewayProcess(env);
    const worker = await startWorkerProcess(env);
    procs.push(gateway, worker);
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(sql, [alice, bob]);
    const a = await TestClient.connect(gateway.port);
    const b = await TestClient.connect(gateway.port);
    await a.login(alice, roomId);
    await b.login(bob, roomId);

    const acked: number[] = [];
    for (let i = 0; i < 5; i++) acked.push((await a.request({ op: 'send', room_id: roomId, content: { phase: 'before', i } })).message_id);

    await pg.stop();
    const duringOutage = [];
    for (let i = 0; i < 5; i++) duringOutage.push(await a.request({ op: 'send', room_id: roomId, content: { phase: 'during', i } }, 40_000));
    expect(duringOutage.every((reply) => reply.success === false && reply.error === 'unavailable')).toBe(true);
    await pg.start();

    // Sends work again once the pool reconnects (the first may still meet a dead connection).
    const deadline = Date.now() + 30_000;
    for (let i = 0; acked.length < 10; i++) {
      const reply = await a.request({ op: 'send', room_id: roomId, content: { phase: 'after', i } }, 40_000);
      if (reply.success) acked.push(reply.message_id);
      else if (Date.now() > deadline) throw new Error(`sends still failing after the restart: ${JSON.stringify(reply)}`);
      else await sleep(200);
    }
    await b.waitForEvents(acked.length, roomId, 15_000).catch(async (err) => {
      const rows = await sql`SELECT id, status::text, locked_by, locked_until > now() AS locked, attempts, error FROM outbox ORDER BY id`;
      throw new Error(`${err.message}\n${JSON.stringify(rows)}\n${worker.output().slice(-3000)}`);
    });
    const got = receivedIds(b.events(roomId));
    expect(got.ids).toEqual(acked);
    expect(got.duplicates).toBe(0);
    // Nothing acknowledged was lost and nothing refused was stored.
    const stored = await sql<
      { phase: string; n: number }[]
    >`SELECT content->>'phase' AS phase, count(*)::int AS n FROM arcyou_chat_messages GROUP BY 1 ORDER BY 1`;
    expect(stored.find((r) => r.phase === 'during')).toBeUndefined();
    expect(stored.find((r) => r.phase === 'before')?.n).toBe(5);

    // LISTEN is back: a new message arrives well inside the 5 s poll interval.
    const started = Date.now();
    const reply = await a.request({ op: 'send', room_id: roomId, content: { phase: 'listen' } });
    await b.waitFor((f) => f.message?.id === reply.message_id, 4000);
    console.log(
      `postgres restart: ${acked.length} acked and delivered, ${duringOutage.length} refused during the outage, post-restart latency ${Date.now() - started} ms`,
    );
    expect(gateway.alive() && worker.alive()).toBe(true);
    await gateway.stop();
    await worker.stop();
  }, 120_000);
});
