// Idempotent enqueue against a real database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/services';
import { enqueueOutbox } from './enqueue';

let db: TestDatabase;
const count = async (key: string) => (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE dedupe_key = ${key}`)[0]!.n;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('enqueueOutbox', () => {
  it('adds a row only once per dedupe key, and returns null for the repeat', async () => {
    const first = await enqueueOutbox(db.sql, { type: 'document.preprocess.v1', payload: { a: 1 }, dedupeKey: 'job-1' });
    const second = await enqueueOutbox(db.sql, { type: 'document.preprocess.v1', payload: { a: 2 }, dedupeKey: 'job-1' });
    expect(first).toEqual(expect.any(Number));
    expect(second).toBeNull();
    expect(await count('job-1')).toBe(1);
    const [row] = await db.sql<{ payload: unknown }[]>`SELECT payload FROM outbox WHERE id = ${first!}`;
    expect(row!.payload).toEqual({ a: 1 });
  });

  it('stores the ordering key in outbox.room_id, whose column comment says what it is', async () => {
    const key = '3f0c2a52-8a11-4d7e-9a41-2f9a1c7e5b10';
    const id = await enqueueOutbox(db.sql, { type: 'document.preprocess.v1', orderingKey: key, payload: {} });
    const [row] = await db.sql<{ room_id: string }[]>`SELECT room_id FROM outbox WHERE id = ${id!}`;
    expect(row!.room_id).toBe(key);
    const [column] = await db.sql<
      { comment: string | null }[]
    >`SELECT col_description('outbox'::regclass, attnum) AS comment FROM pg_attribute WHERE attrelid = 'outbox'::regclass AND attname = 'room_id'`;
    expect(column!.comment).toMatch(/^Ordering key/);
  });

  it('dedupes concurrent enqueues of one key too', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => enqueueOutbox(db.sql, { type: 't', payload: {}, dedupeKey: 'race' })));
    expect(ids.filter((id) => id !== null)).toHaveLength(1);
    expect(await count('race')).toBe(1);
  });

  it('never dedupes rows without a key', async () => {
    const ids = [await enqueueOutbox(db.sql, { type: 't', payload: {} }), await enqueueOutbox(db.sql, { type: 't', payload: {}, dedupeKey: null })];
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
  });

  it('frees the key once the row is gone (e.g. deleted by retention)', async () => {
    const id = await enqueueOutbox(db.sql, { type: 't', payload: {}, dedupeKey: 'reuse' });
    await db.sql`DELETE FROM outbox WHERE id = ${id!}`;
    expect(await enqueueOutbox(db.sql, { type: 't', payload: {}, dedupeKey: 'reuse' })).toEqual(expect.any(Number));
  });

  it("is part of the caller's transaction: nothing is added if it rolls back", async () => {
    await db.sql
      .begin(async (tx) => {
        await enqueueOutbox(tx, { type: 't', payload: {}, dedupeKey: 'rolled-back' });
        throw new Error('rollback');
      })
      .catch(() => {});
    expect(await count('rolled-back')).toBe(0);
  });
});
