// `npm run worker:document` as its own process: it processes a queued document, sweeps
// expired published rows, logs JSON, and stops cleanly on SIGTERM.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueDocumentPreprocess } from '../shared/outbox/document-preprocess';
import { logProblems, startNodeProcess } from './support/child-process';
import { sendJson, startHttpStub, type HttpStub } from './support/http-stub';
import { insertOutboxRows } from './support/outbox-rows';
import { createTestDatabase, type TestDatabase } from './support/services';

let db: TestDatabase;
let sidecar: HttpStub;

beforeAll(async () => {
  db = await createTestDatabase();
  sidecar = await startHttpStub((_req, res) => sendJson(res, 200, { success: true }));
});
afterAll(async () => {
  await sidecar.close();
  await db.drop();
});

describe('document worker process', () => {
  it('processes a document, deletes expired published rows, and exits 0 on SIGTERM', async () => {
    const expired = await insertOutboxRows(db.sql, 3, { type: 'document.preprocess.v1', status: 'published', ageSeconds: 3600 });
    const worker = startNodeProcess('worker/document/main.ts', {
      DATABASE_URL: db.url,
      SIDECAR_BASE_URL: sidecar.url,
      METRICS_PORT: '0',
      OUTBOX_RETENTION: '10m',
      OUTBOX_RETENTION_INTERVAL_MS: '1000',
      LOG_LEVEL: 'info',
    });
    try {
      await worker.waitForOutput(/document worker started/);
      const userId = randomUUID();
      const [doc] = await db.sql<{ id: string }[]>`INSERT INTO documents (user_id) VALUES (${userId}) RETURNING id`;
      await db.sql.begin((tx) => enqueueDocumentPreprocess(tx, { documentId: doc!.id, userId }));

      await expect
        .poll(
          async () => (await db.sql<{ processing_status: string }[]>`SELECT processing_status FROM documents WHERE id = ${doc!.id}`)[0]!.processing_status,
          { timeout: 10_000 },
        )
        .toBe('processed');
      await expect.poll(async () => (await db.sql`SELECT id FROM outbox WHERE id = ANY(${expired}::bigint[])`).length, { timeout: 10_000 }).toBe(0);
      expect(sidecar.requests.map((r) => r.url)).toEqual([`/internal/documents/${doc!.id}/parse`]);
    } finally {
      expect(await worker.stop()).toBe(0);
    }
    const lines = worker.output().trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(worker.output()).toMatch(/"msg":"document processed"/);
    expect(worker.output()).toMatch(/"msg":"deleted expired published outbox rows"/);
    expect(worker.output()).toMatch(/"msg":"document worker stopped"/);
    expect(logProblems(worker.output())).toEqual({ crashes: [], errors: [] });
  });

  it('refuses to start with a lock shorter than a job can take, naming the variables', async () => {
    const worker = startNodeProcess('worker/document/main.ts', { DATABASE_URL: db.url, LOCK_SECONDS: '10', SIDECAR_TIMEOUT_MS: '60000' });
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toContain('LOCK_SECONDS must be more than the longest a job can take');
  });
});
