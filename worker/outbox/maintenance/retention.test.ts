// The retention sweep against a real database: only published rows past the retention
// go, a bounded batch per statement; the chat worker runs it on its own.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../../shared/bus/memory-bus';
import { loadConfig } from '../../../shared/config';
import { createLogger } from '../../../shared/logger';
import { insertOutboxRows } from '../../../test/support/outbox-rows';
import { createTestDatabase, redisUrl, type TestDatabase } from '../../../test/support/services';
import { startChatWorker } from '../../chat/chat-worker';
import { chatWorkerEnv } from '../../config';
import { deletePublishedBatch } from '../sql/delete-published';
import { startRetention, sweepPublished } from './retention';

const DAY = 86_400;
const logger = createLogger('test', 'silent');
let db: TestDatabase;

const remainingIds = async () => (await db.sql<{ id: number }[]>`SELECT id FROM outbox ORDER BY id`).map((r) => r.id);

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await db.sql`TRUNCATE outbox`;
});

describe('retention', () => {
  it('deletes only published rows older than the retention', async () => {
    const oldPublished = await insertOutboxRows(db.sql, 5, { status: 'published', ageSeconds: 10 * DAY });
    const recentPublished = await insertOutboxRows(db.sql, 2, { status: 'published', ageSeconds: 1 * DAY });
    const oldPending = await insertOutboxRows(db.sql, 2, { status: 'pending', ageSeconds: 30 * DAY });
    const oldDead = await insertOutboxRows(db.sql, 2, { status: 'dead', ageSeconds: 30 * DAY });
    const oldInProgress = await insertOutboxRows(db.sql, 1, { status: 'in_progress', ageSeconds: 30 * DAY });

    const deleted = await sweepPublished(db.sql, { retentionMs: 7 * DAY * 1000, batchSize: 2 });

    expect(deleted).toBe(oldPublished.length);
    expect(await remainingIds()).toEqual([...recentPublished, ...oldPending, ...oldDead, ...oldInProgress].sort((a, b) => a - b));
  });

  it('deletes at most one batch per statement, oldest first', async () => {
    const older = await insertOutboxRows(db.sql, 3, { status: 'published', ageSeconds: 20 * DAY });
    const newer = await insertOutboxRows(db.sql, 3, { status: 'published', ageSeconds: 10 * DAY });

    expect(await deletePublishedBatch(db.sql, 7 * DAY * 1000, 4)).toBe(4);
    const left = await remainingIds();
    expect(left).toHaveLength(2);
    expect(newer).toEqual(expect.arrayContaining(left));
    expect(older.some((id) => left.includes(id))).toBe(false);
  });

  it('runs periodically until stopped', async () => {
    await insertOutboxRows(db.sql, 3, { status: 'published', ageSeconds: 2 * DAY });
    const stop = startRetention(db.sql, { retentionMs: DAY * 1000, batchSize: 2, intervalMs: 50, holder: 'retention-test' }, logger);
    await expect.poll(remainingIds, { timeout: 5000 }).toEqual([]);
    await stop();
  });

  it('is wired into the chat worker (OUTBOX_RETENTION)', async () => {
    const kept = await insertOutboxRows(db.sql, 1, { status: 'published', ageSeconds: 60 });
    await insertOutboxRows(db.sql, 3, { status: 'published', ageSeconds: 3 * 3600 });
    const settings = loadConfig(chatWorkerEnv, {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      OUTBOX_RETENTION: '2h',
      OUTBOX_RETENTION_INTERVAL_MS: '1000',
    });
    const worker = await startChatWorker(settings, { sql: db.sql, listenSql: null, bus: createMemoryBus(), logger });
    try {
      await expect.poll(remainingIds, { timeout: 5000 }).toEqual(kept);
    } finally {
      await worker.stop();
    }
  });

  it('lets the chat worker expire send idempotency keys past MESSAGE_KEY_RETENTION, keeping messages and newer keys', async () => {
    const [room] = await db.sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES ('keys') RETURNING id`;
    const user = '00000000-0000-4000-8000-000000000001';
    const messages = await db.sql<{ id: number }[]>`
      INSERT INTO arcyou_chat_messages (room_id, user_id, content, seq)
      SELECT ${room!.id}, ${user}, '{"text":"k"}', g FROM generate_series(1, 5) g RETURNING id`;
    await db.sql`
      INSERT INTO arcyou_chat_message_keys (room_id, user_id, client_key, message_id, created_at)
      SELECT ${room!.id}, ${user}, 'key-' || n, id, now() - make_interval(hours => CASE WHEN n <= 3 THEN 30 ELSE 1 END)
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM arcyou_chat_messages WHERE room_id = ${room!.id}) m`;
    const settings = loadConfig(chatWorkerEnv, {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      MESSAGE_KEY_RETENTION: '1d',
      OUTBOX_RETENTION_INTERVAL_MS: '1000',
    });
    const worker = await startChatWorker(settings, { sql: db.sql, listenSql: null, bus: createMemoryBus(), logger });
    const keys = async () =>
      (await db.sql<{ client_key: string }[]>`SELECT client_key FROM arcyou_chat_message_keys ORDER BY client_key`).map((r) => r.client_key);
    try {
      await expect.poll(keys, { timeout: 5000 }).toEqual(['key-4', 'key-5']);
      const [count] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${room!.id}`;
      expect(count!.n).toBe(messages.length);
    } finally {
      await worker.stop();
    }
  });
});
