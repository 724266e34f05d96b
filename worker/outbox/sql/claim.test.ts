// claimBatch keeps each room in id order: a room's row is never claimed while an earlier
// row of that room is still to be published — in flight, backing off, or pending but not
// yet due — while other rooms go on, even when the held-back room has more than a batch of
// rows waiting. And a row put back by the reaper is due at once, also for a claim that
// began before the reap.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../../shared/db/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/services';
import { plansOf } from '../../../test/support/plans';
import { claimBatch, ROOM_CLAIM_LOCK } from './claim';
import { reapExpiredLocks } from './reap';

describe('claimBatch: order within a room', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());
  beforeEach(async () => {
    await db.sql`DELETE FROM outbox`;
  });

  const claim = (workerId = 'w1') => claimBatch(db.sql, { workerId, batchSize: 100, lockSeconds: 30, excludeTypePrefix: 'document.' });

  interface RowSpec {
    /** next_attempt_at relative to now, in seconds (default 0: due). */
    dueInSeconds?: number;
    attempts?: number;
    /** An in_progress row whose lock ran out this many seconds ago (its worker crashed). */
    lockExpiredSecondsAgo?: number;
    /** An in_progress row whose lock runs out this many seconds from now (its worker died, the lock still holds). */
    lockRunsOutInSeconds?: number;
  }
  /** Inserts one outbox row of `roomId`; rows get ids in the order they are inserted. */
  const row = async (roomId: string, spec: RowSpec = {}): Promise<number> => {
    const lockFromNow = spec.lockRunsOutInSeconds ?? (spec.lockExpiredSecondsAgo === undefined ? undefined : -spec.lockExpiredSecondsAgo);
    const inProgress = lockFromNow !== undefined;
    const [inserted] = await db.sql<{ id: number }[]>`
      INSERT INTO outbox (type, room_id, payload, status, attempts, next_attempt_at, locked_by, locked_until)
      VALUES ('message.created', ${roomId}, ${db.sql.json({ room: roomId } as never)},
              ${inProgress ? 'in_progress' : 'pending'}::outbox_status, ${spec.attempts ?? 0},
              now() + make_interval(secs => ${spec.dueInSeconds ?? 0}),
              ${inProgress ? 'crashed-worker' : null},
              ${inProgress ? db.sql`now() + make_interval(secs => ${lockFromNow})` : null})
      RETURNING id`;
    return inserted!.id;
  };
  const idsOf = (rows: { id: number; room_id: string | null }[], roomId: string) => rows.filter((r) => r.room_id === roomId).map((r) => r.id);

  it('holds back a room\u2019s later rows while an earlier row of it is pending but not yet due (attempts 0), and lets other rooms go', async () => {
    const [room, other] = [randomUUID(), randomUUID()];
    // Lower id, later next_attempt_at than the rows after it; nothing has failed (attempts 0).
    const early = await row(room, { dueInSeconds: 3600 });
    const later = [await row(room), await row(room)];
    const otherRow = await row(other);

    const first = await claim();
    expect(idsOf(first, room), `rows of the room claimed while row ${early} (earlier, not yet due) waits`).toEqual([]);
    expect(idsOf(first, other)).toEqual([otherRow]);

    // Once the earlier row is due, the room goes again, in id order.
    await db.sql`UPDATE outbox SET next_attempt_at = now() WHERE id = ${early}`;
    expect(idsOf(await claim('w2'), room)).toEqual([early, ...later]);
  });

  it('claims a row put back by the reaper at once, together with its room\u2019s later rows, in id order', async () => {
    const room = randomUUID();
    const reaped = await row(room, { lockExpiredSecondsAgo: 1 });
    const later = [await row(room), await row(room)];

    // While the crashed worker's row still counts as in flight, the room waits.
    expect(idsOf(await claim(), room)).toEqual([]);
    expect(await reapExpiredLocks(db.sql)).toBe(1);
    const claimed = await claim('w2');
    expect(claimed.map((r) => r.id)).toEqual([reaped, ...later]);
  });

  it('claims a reaped row that had failed before (attempts > 0) at once too, with its room\u2019s later rows, in id order', async () => {
    const room = randomUUID();
    const reaped = await row(room, { lockExpiredSecondsAgo: 1, attempts: 2 });
    const later = [await row(room), await row(room)];
    expect(await reapExpiredLocks(db.sql)).toBe(1);
    expect((await claim()).map((r) => r.id)).toEqual([reaped, ...later]);
  });

  it('passes over a room a dead worker still holds, with more than a batch of rows pending behind it, and claims another room\u2019s later row', async () => {
    const batchSize = 5;
    const [stuck, other] = [randomUUID(), randomUUID()];
    await row(stuck, { lockRunsOutInSeconds: 30 });
    for (let i = 0; i < 3 * batchSize; i++) await row(stuck);
    const otherRow = await row(other);

    const claimed = await claimBatch(db.sql, { workerId: 'w2', batchSize, lockSeconds: 30, excludeTypePrefix: 'document.' });
    // The first batchSize pending rows are all the stuck room's: candidates must skip them.
    expect(
      claimed.map((r) => r.id),
      'claimed (the other room\u2019s row only)',
    ).toEqual([otherRow]);
  });

  it('a reap that commits while a claim is open (with a later now()) does not let the freed row\u2019s room overtake it', async () => {
    const [room, probe] = [randomUUID(), randomUUID()];
    const reaped = await row(room, { lockExpiredSecondsAgo: 1 });
    const later = [await row(room), await row(room)];
    // Another room's row, claimed whatever happens to the room: its lock tells the claim's now().
    const probeRow = await row(probe);

    let reap: { freed: number; now: Date } | undefined;
    const claimed = await claimBatch(db.sql, {
      workerId: 'w2',
      batchSize: 100,
      lockSeconds: 30,
      excludeTypePrefix: 'document.',
      // Another connection of the pool: it commits while the claim's transaction is open.
      onBegun: async () => {
        await sleep(20); // the reap's now() is later than the claim's
        reap = await db.sql.begin(async (tx) => {
          const [clock] = await tx<{ now: Date }[]>`SELECT now()`;
          return { freed: await reapExpiredLocks(tx as unknown as Sql), now: clock!.now };
        });
      },
    });

    // The interleaving did happen: the reap freed the row during the claim, with a later clock.
    expect(reap?.freed, 'rows the reap freed during the claim').toBe(1);
    expect(
      claimed.map((r) => r.id),
      'the probe row is claimed',
    ).toContain(probeRow);
    const [probed] = await db.sql<{ claim_now: Date }[]>`SELECT locked_until - interval '30 seconds' AS claim_now FROM outbox WHERE id = ${probeRow}`;
    expect(reap!.now.getTime(), 'the reap\u2019s now() is later than the claim\u2019s').toBeGreaterThan(probed!.claim_now.getTime());

    // The room in id order with the freed row first, or held back whole: never its later rows alone.
    const roomIds = idsOf(claimed, room);
    expect([[], [reaped, ...later]], `room rows claimed: ${JSON.stringify(roomIds)} (reaped row ${reaped})`).toContainEqual(roomIds);
  });

  it('while another worker is claiming the rooms of the first rows, takes the rooms after them instead of none', async () => {
    const batchSize = 4;
    const rooms = Array.from({ length: 2 * batchSize }, () => randomUUID());
    // Two rows per room, interleaved: the first batchSize rows are one row of each of the first batchSize rooms.
    const ids = new Map<string, number[]>(rooms.map((r) => [r, []]));
    for (let round = 0; round < 2; round++) for (const room of rooms) ids.get(room)!.push(await row(room));
    const [busy, free] = [rooms.slice(0, batchSize), rooms.slice(batchSize)];

    // The other worker's claim transaction, between its room locks and its commit.
    const claimed = await db.sql.begin(async (other) => {
      for (const room of busy) await other`SELECT pg_advisory_xact_lock(${ROOM_CLAIM_LOCK}, hashtext(${room}::text))`;
      return claimBatch(db.sql, { workerId: 'w2', batchSize, lockSeconds: 30, excludeTypePrefix: 'document.' });
    });
    expect(claimed.map((r) => r.id)).toEqual(free.map((room) => ids.get(room)![0]));
  });

  it('looks up what holds a row back by its room, with rows of many rooms in other workers\u2019 hands', async () => {
    const rooms = Array.from({ length: 40 }, () => randomUUID());
    for (const room of rooms) await row(room, { lockRunsOutInSeconds: 30 });
    for (const room of rooms) await row(room);
    await row(randomUUID());
    const plans = await plansOf(db.url, async (sql) => {
      await claimBatch(sql, { workerId: 'w2', batchSize: 10, lockSeconds: 30, excludeTypePrefix: 'document.' });
    });
    const claims = plans.filter((plan) => plan.includes('outbox_room_blockers_idx'));
    expect(claims.length, 'claim statements').toBeGreaterThan(0);
    // A scan of the index per candidate row, filtered by room, reads every held row each time.
    for (const plan of claims) expect(plan).toMatch(/outbox_room_blockers_idx on outbox earlier[^\n]*\n\s*Index Cond: \(\(room_id = o(_\d+)?\.room_id\)/);
  });
});
