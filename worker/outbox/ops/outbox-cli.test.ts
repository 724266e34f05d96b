// `npm run outbox` run as a separate process against a real database: what it prints,
// what it changes, and how it exits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../../../test/support/http-stub';
import { insertOutboxRows, outboxStatuses } from '../../../test/support/outbox-rows';
import { runCli } from '../../../test/support/run-cli';
import { createTestDatabase, type TestDatabase } from '../../../test/support/services';

const DAY = 86_400;
let db: TestDatabase;
const outbox = (...args: string[]) => runCli('worker/outbox/ops/outbox-cli.ts', args, { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('npm run outbox', () => {
  it('stats: counts by type and status, with the oldest pending age, as a table and as JSON', async () => {
    await db.sql`TRUNCATE outbox`;
    await insertOutboxRows(db.sql, 3, { type: 'message.created', status: 'published' });
    await insertOutboxRows(db.sql, 2, { type: 'message.created', status: 'pending', ageSeconds: 90 });
    await insertOutboxRows(db.sql, 1, { type: 'document.preprocess.v1', status: 'dead', error: 'sidecar answered HTTP 500' });
    await insertOutboxRows(db.sql, 1, { type: 'document.preprocess.v1', status: 'pending', ageSeconds: 3 * 3600 });

    const table = await outbox('stats');
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TYPE\s+PENDING\s+IN_PROGRESS\s+PUBLISHED\s+DEAD\s+OLDEST_PENDING$/);
    expect(lines[1]).toMatch(/^document\.preprocess\.v1\s+1\s+0\s+0\s+1\s+3h 00m$/);
    expect(lines[2]).toMatch(/^message\.created\s+2\s+0\s+3\s+0\s+1m 3\ds$/);
    expect(lines[3]).toMatch(/^TOTAL\s+3\s+0\s+3\s+1\s+3h 00m$/);

    const json = await outbox('stats', '--json');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.total).toMatchObject({ pending: 3, in_progress: 0, published: 3, dead: 1 });
    expect(parsed.types).toHaveLength(2);
  });

  it('requeue: puts matching dead rows back to pending with attempts reset, error kept, others untouched', async () => {
    await db.sql`TRUNCATE outbox`;
    const docDead = await insertOutboxRows(db.sql, 2, { type: 'document.preprocess.v1', status: 'dead', attempts: 1, error: 'sidecar answered HTTP 500' });
    const chatDead = await insertOutboxRows(db.sql, 1, { type: 'message.created', status: 'dead', attempts: 5, error: 'publish failed' });
    const docPublished = await insertOutboxRows(db.sql, 1, { type: 'document.preprocess.v1', status: 'published' });

    const result = await outbox('requeue', '--type', 'document.preprocess.v1');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Requeued 2 dead row(s) to pending:\n  document.preprocess.v1: 2\n');
    expect(result.stdout).toContain(`ids: ${docDead.join(', ')}`);

    const rows = await outboxStatuses(db.sql);
    for (const id of docDead) expect(rows.get(id)).toEqual({ status: 'pending', attempts: 0, error: 'sidecar answered HTTP 500' });
    expect(rows.get(chatDead[0]!)).toMatchObject({ status: 'dead', attempts: 5 });
    expect(rows.get(docPublished[0]!)).toMatchObject({ status: 'published' });
    const [due] = await db.sql<{ due: boolean }[]>`SELECT bool_and(next_attempt_at <= now()) AS due FROM outbox WHERE id = ANY(${docDead}::bigint[])`;
    expect(due!.due).toBe(true);
  });

  it('requeue: by id and by age', async () => {
    await db.sql`TRUNCATE outbox`;
    const old = await insertOutboxRows(db.sql, 2, { status: 'dead', ageSeconds: 2 * DAY });
    const recent = await insertOutboxRows(db.sql, 2, { status: 'dead', ageSeconds: 60 });

    expect((await outbox('requeue', '--older-than', '1d')).stdout).toContain('Requeued 2 dead row(s)');
    expect((await outbox('requeue', '--id', String(recent[0]))).stdout).toContain(`ids: ${recent[0]}`);
    const rows = await outboxStatuses(db.sql);
    expect([...old, recent[0]!].map((id) => rows.get(id)!.status)).toEqual(['pending', 'pending', 'pending']);
    expect(rows.get(recent[1]!)!.status).toBe('dead');

    const none = await outbox('requeue', '--id', '999999');
    expect(none).toMatchObject({ code: 0, stdout: 'No dead rows matched; nothing requeued.\n' });
  });

  it('purge: deletes only published rows older than --older-than', async () => {
    await db.sql`TRUNCATE outbox`;
    await insertOutboxRows(db.sql, 5, { status: 'published', ageSeconds: 10 * DAY });
    const recent = await insertOutboxRows(db.sql, 1, { status: 'published', ageSeconds: 60 });
    const pending = await insertOutboxRows(db.sql, 1, { status: 'pending', ageSeconds: 30 * DAY });
    const dead = await insertOutboxRows(db.sql, 1, { status: 'dead', ageSeconds: 30 * DAY });

    const result = await outbox('purge', '--older-than', '7d', '--batch', '2');
    expect(result).toMatchObject({ code: 0, stdout: 'Purged 5 published row(s) older than 604800 s.\n' });
    expect([...(await outboxStatuses(db.sql)).keys()]).toEqual([...recent, ...pending, ...dead]);
  });

  it('prints usage on --help and exits 0', async () => {
    const result = await outbox('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run outbox -- <command> \[options\]/);
  });

  it('refuses bad arguments with a clear message on stderr and exit code 2, changing nothing', async () => {
    await db.sql`TRUNCATE outbox`;
    const dead = await insertOutboxRows(db.sql, 1, { status: 'dead' });
    for (const [args, message] of [
      [['frobnicate'], 'outbox: unknown command "frobnicate" (expected stats, requeue or purge)'],
      [['requeue'], 'outbox: requeue: say which dead rows: --type, --id, --older-than, or --all for every one'],
      [['purge', '--older-than', 'a while'], 'outbox: --older-than must be a duration such as 90s, 15m, 12h, 7d or a number of seconds (got "a while")'],
    ] as const) {
      const result = await outbox(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`${message}\nRun \`npm run outbox -- --help\` for usage.\n`);
    }
    expect((await outboxStatuses(db.sql)).get(dead[0]!)!.status).toBe('dead');
  });

  it('names the variable when DATABASE_URL is missing (exit 2) and says why when the database is down (exit 1)', async () => {
    const missing = await runCli('worker/outbox/ops/outbox-cli.ts', ['stats'], { DATABASE_URL: undefined });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('DATABASE_URL must be set');

    const down = await runCli('worker/outbox/ops/outbox-cli.ts', ['stats'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/x` });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^outbox: stats failed: .*ECONNREFUSED/);
  });
});
