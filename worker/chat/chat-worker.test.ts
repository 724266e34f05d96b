// The chat outbox worker against real PostgreSQL and Redis (README: How a message travels).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, BusMessage } from '../../shared/bus/bus';
import { roomChannel } from '../../shared/bus/channels';
import { createRedisBus } from '../../shared/bus/redis-bus';
import { loadConfig } from '../../shared/config';
import { createSql, type Sql } from '../../shared/db/client';
import { migrate } from '../../shared/db/migrate';
import { createLogger } from '../../shared/logger';
import { createTestDatabase, databaseUrl, redisUrl, type TestDatabase } from '../../test/support/services';
import { startChatWorker } from './chat-worker';
import { chatWorkerEnv } from '../config';
import { claimBatch } from '../outbox/sql/claim';
import { markPublished } from '../outbox/sql/complete';

const logger = createLogger('test', 'silent');

function settings(db: TestDatabase, env: Record<string, string> = {}) {
  return loadConfig(chatWorkerEnv, {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    PUBSUB_MODE: 'perconv',
    POLL_INTERVAL_MS: '50',
    REAP_INTERVAL_MS: '100',
    ...env,
  });
}

async function insertMessages(sql: Sql, roomId: string, count: number, type = 'message.created', firstId = 1): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    INSERT INTO outbox (type, room_id, payload)
    SELECT ${type}, ${roomId}, jsonb_build_object('id', n, 'user_id', ${randomUUID()}::text, 'content', jsonb_build_object('n', n), 'created_at', now())
    FROM generate_series(${firstId}::int, ${firstId + count - 1}::int) AS n
    RETURNING id`;
  return rows.map((r) => r.id);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const statusCounts = async (sql: Sql) =>
  Object.fromEntries(
    (await sql<{ status: string; n: number }[]>`SELECT status::text, count(*)::int AS n FROM outbox GROUP BY status`).map((r) => [r.status, r.n]),
  );

/** A subscriber on real Redis that records every message of a channel. */
async function listen(channel: string) {
  const bus = createRedisBus(redisUrl(), logger, 'test-listener');
  const received: string[] = [];
  bus.onMessage((ch, message) => ch === channel && received.push(message));
  await bus.subscribe(channel);
  return { received, close: () => bus.close() };
}

describe('chat worker', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('with two workers on one backlog, publishes every row exactly once', async () => {
    // Several rooms: a room goes to one worker at a time, so with a single room one worker
    // may rightly take every batch.
    const roomIds = Array.from({ length: 4 }, () => randomUUID());
    const listeners = await Promise.all(roomIds.map((roomId) => listen(roomChannel(roomId))));
    const ids: number[] = [];
    for (const [i, roomId] of roomIds.entries()) ids.push(...(await insertMessages(db.sql, roomId, 750, 'message.created', 1 + i * 750)));
    const received = () => listeners.flatMap((l) => l.received);
    const published = new Map<string, number>();
    const workers = await Promise.all(
      ['w1', 'w2'].map(async (workerId) => {
        const sql = createSql(db.url, { max: 2 });
        const bus = createRedisBus(redisUrl(), logger, workerId);
        const worker = await startChatWorker(settings(db, { WORKER_ID: workerId, BATCH_SIZE: '50' }), {
          sql,
          listenSql: null,
          bus,
          logger,
          onSettled: (_row, outcome) => outcome === 'published' && published.set(workerId, (published.get(workerId) ?? 0) + 1),
        });
        return async () => {
          await worker.stop();
          await bus.close();
          await sql.end();
        };
      }),
    );
    await waitUntil(async () => received().length >= ids.length, 30_000, 'all messages');
    await sleep(200); // a duplicate would arrive now
    for (const stop of workers) await stop();
    for (const listener of listeners) await listener.close();

    const seen = received().map((m) => JSON.parse(m).message.id as number);
    expect(seen).toHaveLength(ids.length);
    expect(new Set(seen).size).toBe(ids.length);
    expect(await statusCounts(db.sql)).toMatchObject({ published: ids.length });
    // Both workers took part.
    expect(published.get('w1')).toBeGreaterThan(0);
    expect(published.get('w2')).toBeGreaterThan(0);
    await db.sql`DELETE FROM outbox`;
  }, 60_000);

  it('backs off after a failed publish, then marks the row dead with the error after MAX_ATTEMPTS', async () => {
    const roomId = randomUUID();
    const [id] = await insertMessages(db.sql, roomId, 1);
    const attempts: number[] = [];
    const failingBus: Bus = {
      async publish(messages: readonly BusMessage[]) {
        attempts.push(Date.now());
        return messages.map(() => new Error('connection reset by peer'));
      },
      async subscribe() {},
      async unsubscribe() {},
      onMessage() {},
      onReconnect() {},
      async ping() {},
      async close() {},
    };
    const worker = await startChatWorker(settings(db, { MAX_ATTEMPTS: '3', BACKOFF_BASE_MS: '400', BACKOFF_CAP_MS: '1000' }), {
      sql: db.sql,
      listenSql: null,
      bus: failingBus,
      logger,
    });

    await waitUntil(async () => attempts.length >= 1, 5000, 'first attempt');
    await waitUntil(async () => (await db.sql`SELECT attempts FROM outbox WHERE id = ${id!}`)[0]!.attempts === 1, 5000, 'first failure recorded');
    const [afterFirst] = await db.sql`SELECT status::text, attempts, error, next_attempt_at > now() AS later FROM outbox WHERE id = ${id!}`;
    expect(afterFirst).toMatchObject({ status: 'pending', attempts: 1, later: true });
    expect(afterFirst!.error).toContain('connection reset by peer');

    await waitUntil(async () => (await db.sql`SELECT status::text FROM outbox WHERE id = ${id!}`)[0]!.status === 'dead', 10_000, 'dead');
    await worker.stop();
    const [dead] = await db.sql`SELECT attempts, error FROM outbox WHERE id = ${id!}`;
    expect(dead).toMatchObject({ attempts: 3 });
    expect(dead!.error).toContain('publish failed: connection reset by peer');
    expect(attempts).toHaveLength(3);
    // Waited out the backoff between attempts: at least half of 400 ms, then of 800 ms.
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(190);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(390);
    await db.sql`DELETE FROM outbox`;
  });

  it('reclaims rows whose lock expired (a crashed worker) and publishes them; live locks are left alone', async () => {
    const roomId = randomUUID();
    const listener = await listen(roomChannel(roomId));
    const [expired, live] = await insertMessages(db.sql, roomId, 2);
    await db.sql`UPDATE outbox SET status = 'in_progress', locked_by = 'crashed', locked_until = now() - interval '1 second' WHERE id = ${expired!}`;
    await db.sql`UPDATE outbox SET status = 'in_progress', locked_by = 'busy', locked_until = now() + interval '1 hour' WHERE id = ${live!}`;
    const bus = createRedisBus(redisUrl(), logger, 'reaper-test');
    const worker = await startChatWorker(settings(db), { sql: db.sql, listenSql: null, bus, logger });
    await waitUntil(async () => listener.received.length === 1, 10_000, 'reclaimed row published');
    await worker.stop();
    await bus.close();
    await listener.close();
    const rows = await db.sql`SELECT id, status::text, locked_by FROM outbox ORDER BY id`;
    expect(rows).toEqual([
      { id: expired, status: 'published', locked_by: null },
      { id: live, status: 'in_progress', locked_by: 'busy' },
    ]);
    await db.sql`DELETE FROM outbox`;
  });

  it('leaves document.* rows to the document worker, and the include filter takes only those', async () => {
    const roomId = randomUUID();
    const listener = await listen(roomChannel(roomId));
    await insertMessages(db.sql, roomId, 2, 'message.created');
    await insertMessages(db.sql, roomId, 2, 'document.preprocess.v1');
    await db.sql`INSERT INTO outbox (type, room_id, payload) VALUES ('room.updated', ${roomId}, '{"name":"renamed"}')`;
    await db.sql`INSERT INTO outbox (type, room_id, payload) VALUES ('documentary', ${roomId}, '{}')`; // not the prefix "document."
    const bus = createRedisBus(redisUrl(), logger, 'filter-test');
    const worker = await startChatWorker(settings(db), { sql: db.sql, listenSql: null, bus, logger });
    await waitUntil(async () => listener.received.length === 4, 10_000, 'chat rows published');
    await worker.stop();
    await bus.close();
    await listener.close();
    const rows = await db.sql<{ type: string; status: string }[]>`SELECT type, status::text FROM outbox ORDER BY id`;
    expect(rows.filter((r) => r.type === 'document.preprocess.v1').map((r) => r.status)).toEqual(['pending', 'pending']);
    expect(rows.filter((r) => r.type !== 'document.preprocess.v1').every((r) => r.status === 'published')).toBe(true);
    const renamed = listener.received.map((m) => JSON.parse(m)).find((e) => e.type === 'room.updated');
    expect(renamed).toMatchObject({ op: 'event', type: 'room.updated', roomId, data: { name: 'renamed' } });

    const documents = await claimBatch(db.sql, { workerId: 'doc', batchSize: 10, lockSeconds: 30, includeTypePrefix: 'document.' });
    expect(documents.map((r) => r.type)).toEqual(['document.preprocess.v1', 'document.preprocess.v1']);
    await db.sql`DELETE FROM outbox`;
  });

  it('does not mark a row published by a worker that lost its lock to another', async () => {
    const roomId = randomUUID();
    await insertMessages(db.sql, roomId, 1);
    const [row] = await claimBatch(db.sql, { workerId: 'slow', batchSize: 1, lockSeconds: 30 });
    await db.sql`UPDATE outbox SET locked_by = 'rescuer' WHERE id = ${row!.id}`;
    expect(await markPublished(db.sql, 'slow', [row!.id])).toBe(0);
    expect((await db.sql`SELECT status::text FROM outbox WHERE id = ${row!.id}`)[0]!.status).toBe('in_progress');
    await db.sql`DELETE FROM outbox`;
  });

  it('dead-letters a row it can never publish (no room id) without retrying', async () => {
    await db.sql`INSERT INTO outbox (type, payload) VALUES ('message.created', '{}')`;
    const bus = createRedisBus(redisUrl(), logger, 'invalid-test');
    const worker = await startChatWorker(settings(db), { sql: db.sql, listenSql: null, bus, logger });
    await waitUntil(async () => (await statusCounts(db.sql)).dead === 1, 5000, 'dead row');
    await worker.stop();
    await bus.close();
    const [row] = await db.sql`SELECT attempts, error FROM outbox`;
    expect(row).toMatchObject({ attempts: 1, error: 'row has no room_id' });
    await db.sql`DELETE FROM outbox`;
  });
});

describe('chat worker under infrastructure errors', () => {
  it('keeps its loop alive while the database is unreachable and recovers by itself', async () => {
    const name = `arcyou_late_${randomUUID().replaceAll('-', '')}`;
    const url = Object.assign(new URL(databaseUrl()), { pathname: `/${name}` }).toString();
    const sql = createSql(url, { max: 2 });
    const bus = createRedisBus(redisUrl(), logger, 'late-db');
    const roomId = randomUUID();
    const listener = await listen(roomChannel(roomId));
    const worker = await startChatWorker(
      loadConfig(chatWorkerEnv, { DATABASE_URL: url, REDIS_URL: redisUrl(), PUBSUB_MODE: 'perconv', POLL_INTERVAL_MS: '50' }),
      { sql, listenSql: null, bus, logger },
    );
    await sleep(300); // several failed rounds: database does not exist

    const admin = createSql(databaseUrl(), { max: 1 });
    await admin`CREATE DATABASE ${admin(name)}`;
    const setup = createSql(url, { max: 1 });
    await migrate(setup);
    await insertMessages(setup, roomId, 3);
    await waitUntil(async () => listener.received.length === 3, 15_000, 'recovery');

    await worker.stop();
    await bus.close();
    await listener.close();
    await Promise.all([sql.end(), setup.end()]);
    await admin`DROP DATABASE ${admin(name)} WITH (FORCE)`;
    await admin.end();
  });
});
