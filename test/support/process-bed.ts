// Set-up shared by the tests that run gateways and workers as processes: a fresh
// database for the file, and every process started is SIGKILLed after the file's tests,
// whatever happened (a failed assertion must not leave processes behind).
import { afterAll, beforeAll } from 'vitest';
import type { RunningProcess } from './child-process';
import { createTestDatabase, type TestDatabase } from './services';

export interface ProcessBed {
  /** Available inside tests and hooks. */
  readonly db: TestDatabase;
  /** Push every process you start. */
  readonly procs: RunningProcess[];
}

export function processTestBed(options: { migrate?: boolean } = {}): ProcessBed {
  let db: TestDatabase | null = null;
  const procs: RunningProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase(options);
  });
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await db?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('the test database exists only inside tests and hooks');
      return db;
    },
    procs,
  };
}
