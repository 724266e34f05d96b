import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessages } from '../../gateway/sql/insert-messages';
import { releaseFastRows } from '../../gateway/sql/release-fast-rows';
import { retireFastRows } from '../../gateway/sql/retire-fast-rows';
import { plansOf } from '../../test/support/plans';
import { createRoom, newUser } from '../../test/support/fixtures';
import { createTestDatabase, type TestDatabase } from '../../test/support/services';
import { claimBatch } from '../../worker/outbox/sql/claim';
import { markPublished } from '../../worker/outbox/sql/complete';
import { rescheduleFailed } from '../../worker/outbox/sql/reschedule';

const OWNER = 'gateway:plans';
const WORKER = 'worker-plans';

describe('statements that settle outbox rows by id', () => {
  let db: TestDatabase;
  let roomId: string;
  let userId: string;
  const store = async (count: number) => {
    const stored = await insertMessages(
      db.sql,
      Array.from({ length: count }, (_, i) => ({ roomId, userId, content: { text: `m${i}` }, extra: {} })),
      { fastPathOwner: OWNER, fastLockSeconds: 60, notify: false },
    );
    return stored.map((s) => s!.fastRowId!);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    userId = newUser();
    roomId = await createRoom(db.sql, [userId]);
    // What the fast path leaves behind at 1,000 sends/s: rows written claimed and deleted at
    // once, their dead entries piling up in the reaper's index until a vacuum.
    for (let i = 0; i < 1500; i++) await retireFastRows(db.sql, OWNER, await store(1));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('find their rows by primary key, not through the reaper index of every claimed row', async () => {
    const [toRetire, toRelease] = [await store(2), await store(1)];
    await db.sql`INSERT INTO outbox (type, room_id, payload) VALUES ('document.test', NULL, '{}'), ('document.test', NULL, '{}')`;
    const claimed = await claimBatch(db.sql, { workerId: WORKER, batchSize: 2, lockSeconds: 60, includeTypePrefix: 'document.' });
    expect(claimed).toHaveLength(2);

    const plans = await plansOf(db.url, async (sql) => {
      expect(await retireFastRows(sql, OWNER, toRetire)).toBe(2);
      expect(await releaseFastRows(sql, OWNER, toRelease)).toBe(1);
      expect(await markPublished(sql, WORKER, [claimed[0]!.id])).toBe(1);
      expect(await rescheduleFailed(sql, WORKER, { id: claimed[1]!.id, error: 'boom', delayMs: 1000 }, 5)).toBe('pending');
    });
    const settling = plans.filter((plan) => /(DELETE FROM|UPDATE) outbox/.test(plan) && /locked_by = /.test(plan));
    expect(settling).toHaveLength(4);
    for (const plan of settling) expect(plan).not.toContain('outbox_in_progress_idx');
  });

  it('a send checks its membership by primary key, not by scanning every active membership', async () => {
    const plans = await plansOf(db.url, async (sql) => {
      await insertMessages(sql, [{ roomId, userId, content: { text: 'm' }, extra: {} }], { fastPathOwner: OWNER, fastLockSeconds: 60, notify: false });
    });
    const send = plans.find((plan) => plan.includes('INSERT INTO arcyou_chat_messages'));
    expect(send).toContain('arcyou_chat_members_pkey');
    expect(send).not.toContain('arcyou_chat_members_user_idx');
  });
});
