// Maintenance once, not once per worker: against a real database, several workers' sweeps
// of one task run in one of them at a time, and another takes over when it stops or hangs.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/logger';
import { createTestDatabase, type TestDatabase } from '../../../test/support/services';
import { takeLease } from '../sql/lease';
import { startMaintenance } from './periodic';

const logger = createLogger('test', 'silent');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A worker running `task` every 200 ms under the lease (it outlives 600 ms without a renewal); counts its runs. */
function worker(task: string, holder: string) {
  const runs = { count: 0 };
  const stop = startMaintenance(
    task,
    200,
    { sql: db.sql, holder },
    async () => {
      runs.count++;
    },
    logger,
  );
  return { runs, stop };
}

describe('maintenance leadership', () => {
  it('runs a task in one of three workers at a time; when the leader stops another takes over', async () => {
    const workers = ['w1', 'w2', 'w3'].map((name) => ({ name, ...worker('sweep-a', name) }));
    await sleep(1500);
    const leaders = workers.filter((w) => w.runs.count > 0);
    expect(leaders).toHaveLength(1);
    expect(leaders[0]!.runs.count).toBeGreaterThan(3); // it kept the lease run after run
    await leaders[0]!.stop();
    const rest = workers.filter((w) => w !== leaders[0]);
    await expect.poll(() => rest.filter((w) => w.runs.count > 0).length, { timeout: 3000 }).toBe(1);
    await sleep(600);
    expect(rest.filter((w) => w.runs.count > 0)).toHaveLength(1);
    for (const w of rest) await w.stop();
  });

  it('a leader that stops renewing (hung) loses the task once its lease ran out, not before', async () => {
    expect(await takeLease(db.sql, 'sweep-b', 'hung', 1000)).toBe(true);
    const other = worker('sweep-b', 'w4');
    await sleep(700);
    expect(other.runs.count).toBe(0);
    await expect.poll(() => other.runs.count, { timeout: 3000 }).toBeGreaterThan(0);
    expect(await takeLease(db.sql, 'sweep-b', 'hung', 1000)).toBe(false); // back from its hang: it is no longer the leader
    await other.stop();
  });

  it('leases are per task', async () => {
    const a = worker('sweep-c', 'w5');
    const b = worker('sweep-d', 'w6');
    await expect.poll(() => a.runs.count > 0 && b.runs.count > 0, { timeout: 3000 }).toBe(true);
    await a.stop();
    await b.stop();
  });
});
