// The document worker against real PostgreSQL and a real HTTP server standing in for the
// preprocessing sidecar (README: Document worker): every way the sidecar can fail ends that job cleanly
// and the worker goes on.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../shared/db/client';
import { createSql } from '../../shared/db/client';
import { createLogger } from '../../shared/logger';
import { enqueueOutbox } from '../../shared/outbox/enqueue';
import { enqueueDocumentPreprocess } from '../../shared/outbox/document-preprocess';
import { createRegistry } from '../../shared/metrics';
import { createOutboxWorkerMetrics, type OutboxWorkerMetrics } from '../metrics';
import { closedPort, sendJson, startHttpStub, type HttpStub } from '../../test/support/http-stub';
import { createTestDatabase, type TestDatabase } from '../../test/support/services';
import { requeueDead } from '../outbox/ops/sql/requeue-dead';
import { loadDocumentWorkerConfig } from './config';
import { startDocumentWorker } from './document-worker';

type SidecarMode = 'ok' | 'http404' | 'http500' | 'slow' | 'garbage' | 'reported-failure' | 'flaky';

const logger = createLogger('test', 'silent');
let db: TestDatabase;
let sidecar: HttpStub;
const modes = new Map<string, SidecarMode>();
const calls = new Map<string, number>();

async function newDocument(mode: SidecarMode = 'ok'): Promise<{ documentId: string; userId: string }> {
  const userId = randomUUID();
  const [doc] = await db.sql<{ id: string }[]>`INSERT INTO documents (user_id) VALUES (${userId}) RETURNING id`;
  modes.set(doc!.id, mode);
  return { documentId: doc!.id, userId };
}

interface JobState {
  outbox: { status: string; attempts: number; error: string | null };
  document: string | null;
}

async function jobState(outboxId: number, documentId?: string): Promise<JobState> {
  const [row] = await db.sql<{ status: string; attempts: number; error: string | null }[]>`SELECT status, attempts, error FROM outbox WHERE id = ${outboxId}`;
  const [doc] = documentId ? await db.sql<{ processing_status: string }[]>`SELECT processing_status FROM documents WHERE id = ${documentId}` : [];
  return { outbox: row!, document: doc?.processing_status ?? null };
}

async function settled(outboxId: number, documentId?: string, timeout = 10_000): Promise<JobState> {
  await expect.poll(async () => (await jobState(outboxId)).outbox.status, { timeout, interval: 25 }).toMatch(/^(published|dead)$/);
  return jobState(outboxId, documentId);
}

async function withWorker<T>(env: Record<string, string>, fn: () => Promise<T>, listenSql: Sql | null = null, metrics?: OutboxWorkerMetrics): Promise<T> {
  const config = loadDocumentWorkerConfig({
    DATABASE_URL: db.url,
    SIDECAR_BASE_URL: sidecar.url,
    SIDECAR_TIMEOUT_MS: '500',
    POLL_INTERVAL_MS: '50',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const worker = await startDocumentWorker(config, { sql: db.sql, listenSql, logger, metrics });
  try {
    return await fn();
  } finally {
    await worker.stop();
  }
}

async function outboxRowsFor(documentId: string): Promise<number> {
  const [row] = await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM outbox WHERE room_id = ${documentId}`;
  return row!.count;
}

const enqueue = (job: { documentId: string; userId: string }) => enqueueDocumentPreprocess(db.sql, job).then((id) => id!);

beforeAll(async () => {
  db = await createTestDatabase();
  sidecar = await startHttpStub(async (req, res) => {
    const documentId = /^\/internal\/documents\/([^/]+)\/parse$/.exec(req.url)?.[1] ?? '';
    const call = (calls.get(documentId) ?? 0) + 1;
    calls.set(documentId, call);
    switch (modes.get(documentId) ?? 'ok') {
      case 'ok':
        return sendJson(res, 200, { success: true });
      case 'http404':
        return sendJson(res, 404, { detail: 'Not Found' });
      case 'http500':
        res.writeHead(500, { 'content-type': 'text/plain' });
        return void res.end('Internal Server Error');
      case 'slow':
        await sleep(3000);
        return sendJson(res, 200, { success: true });
      case 'garbage':
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end('<html><body>502 Bad Gateway</body></html>');
      case 'reported-failure':
        return sendJson(res, 200, { success: false, error: 'unsupported file format' });
      case 'flaky':
        return call < 3 ? sendJson(res, 503, { detail: 'warming up' }) : sendJson(res, 200, { success: true });
    }
  });
});

afterAll(async () => {
  await sidecar.close();
  await db.drop();
});

describe('document worker', () => {
  it('processes a document: pending → processing → processed, outbox published, sidecar called with userId', async () => {
    const job = await newDocument('ok');
    const id = await enqueue(job);
    const state = await withWorker({}, () => settled(id, job.documentId));
    expect(state).toEqual({ outbox: { status: 'published', attempts: 0, error: null }, document: 'processed' });
    const request = sidecar.requests.find((r) => r.url === `/internal/documents/${job.documentId}/parse`);
    expect(request).toMatchObject({ method: 'POST', json: { userId: job.userId } });
    expect(request!.headers['content-type']).toBe('application/json');
  });

  it('fails the job on a 500: document failed, outbox dead with the error, no retry by default', async () => {
    const job = await newDocument('http500');
    const id = await enqueue(job);
    const state = await withWorker({}, () => settled(id, job.documentId));
    expect(state).toEqual({ outbox: { status: 'dead', attempts: 1, error: 'sidecar answered HTTP 500: Internal Server Error' }, document: 'failed' });
    expect(calls.get(job.documentId)).toBe(1);
  });

  it('fails the job when the sidecar does not answer within SIDECAR_TIMEOUT_MS', async () => {
    const job = await newDocument('slow');
    const id = await enqueue(job);
    const started = Date.now();
    const state = await withWorker({ SIDECAR_TIMEOUT_MS: '300' }, () => settled(id, job.documentId));
    expect(state).toMatchObject({ outbox: { status: 'dead', error: 'sidecar unreachable: no answer within 300 ms' }, document: 'failed' });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('fails the job when the sidecar is down (connection refused)', async () => {
    const job = await newDocument('ok');
    const id = await enqueue(job);
    const port = await closedPort();
    const state = await withWorker({ SIDECAR_BASE_URL: `http://127.0.0.1:${port}` }, () => settled(id, job.documentId));
    expect(state).toMatchObject({ outbox: { status: 'dead', error: expect.stringContaining('ECONNREFUSED') }, document: 'failed' });
  });

  it('fails the job when the sidecar answers 200 with garbage, or reports failure', async () => {
    const garbage = await newDocument('garbage');
    const reported = await newDocument('reported-failure');
    const [garbageId, reportedId] = [await enqueue(garbage), await enqueue(reported)];
    const [garbageState, reportedState] = await withWorker({}, () =>
      Promise.all([settled(garbageId, garbage.documentId), settled(reportedId, reported.documentId)]),
    );
    expect(garbageState).toMatchObject({
      outbox: { status: 'dead', error: expect.stringContaining('not JSON: <html><body>502 Bad Gateway') },
      document: 'failed',
    });
    expect(reportedState).toMatchObject({ outbox: { status: 'dead', error: 'sidecar reported failure: unsupported file format' }, document: 'failed' });
  });

  it('sends an unknown document.* type to dead with a clear error, without calling the sidecar', async () => {
    const before = sidecar.requests.length;
    const id = (await enqueueOutbox(db.sql, { type: 'document.summarize.v9', payload: { documentId: randomUUID() } }))!;
    const state = await withWorker({}, () => settled(id));
    expect(state.outbox).toEqual({
      status: 'dead',
      attempts: 1,
      error: 'unknown document job type "document.summarize.v9" (this worker handles document.preprocess.v1)',
    });
    expect(sidecar.requests.length).toBe(before);
  });

  it('sends a job with a bad payload or a missing document to dead', async () => {
    const bad = (await enqueueOutbox(db.sql, { type: 'document.preprocess.v1', payload: { documentId: 'nope' } }))!;
    const missing = (await enqueueOutbox(db.sql, { type: 'document.preprocess.v1', payload: { documentId: randomUUID(), userId: randomUUID() } }))!;
    const [badState, missingState] = await withWorker({}, () => Promise.all([settled(bad), settled(missing)]));
    expect(badState.outbox).toMatchObject({ status: 'dead', error: 'invalid document.preprocess.v1 payload: documentId: must be a UUID; userId: missing' });
    expect(missingState.outbox).toMatchObject({ status: 'dead', error: expect.stringMatching(/^document .* does not exist$/) });
  });

  it('goes on after failures: a mixed batch settles every job on its own', async () => {
    const jobs = await Promise.all((['http500', 'ok', 'garbage', 'ok', 'slow', 'ok'] as const).map((mode) => newDocument(mode)));
    const ids: number[] = [];
    for (const job of jobs) ids.push(await enqueue(job));
    const states = await withWorker({ SIDECAR_TIMEOUT_MS: '300', BATCH_SIZE: '3', DOCUMENT_CONCURRENCY: '3' }, () =>
      Promise.all(ids.map((id, i) => settled(id, jobs[i]!.documentId))),
    );
    expect(states.map((s) => s.document)).toEqual(['failed', 'processed', 'failed', 'processed', 'failed', 'processed']);
    expect(states.map((s) => s.outbox.status)).toEqual(['dead', 'published', 'dead', 'published', 'dead', 'published']);
  });

  it('keeps working through the other jobs while one sidecar call hangs (a free slot claims the next job)', async () => {
    const slow = await newDocument('slow'); // answers after 3 s; the timeout is 2.5 s
    const slowId = await enqueue(slow);
    const quick = await Promise.all(Array.from({ length: 6 }, () => newDocument('ok')));
    const quickIds: number[] = [];
    for (const job of quick) quickIds.push(await enqueue(job));
    await withWorker({ SIDECAR_TIMEOUT_MS: '2500', BATCH_SIZE: '2', DOCUMENT_CONCURRENCY: '2' }, async () => {
      const states = await Promise.all(quickIds.map((id, i) => settled(id, quick[i]!.documentId)));
      expect(states.map((s) => s.outbox.status)).toEqual(Array(6).fill('published'));
      // All six went through the second slot while the first still waits for the sidecar.
      expect((await jobState(slowId, slow.documentId)).outbox.status).toBe('in_progress');
      expect(await settled(slowId, slow.documentId)).toMatchObject({ outbox: { status: 'dead' }, document: 'failed' });
    });
  });

  it('retries with backoff when DOCUMENT_MAX_ATTEMPTS allows, and the document waits as pending', async () => {
    const job = await newDocument('flaky');
    const id = await enqueue(job);
    const seen = new Set<string>();
    const state = await withWorker({ DOCUMENT_MAX_ATTEMPTS: '5', BACKOFF_BASE_MS: '100', BACKOFF_CAP_MS: '200' }, async () => {
      await expect
        .poll(
          async () => {
            const s = await jobState(id, job.documentId);
            seen.add(`${s.outbox.status}/${s.document}`);
            return s.outbox.status;
          },
          { timeout: 10_000, interval: 10 },
        )
        .toBe('published');
      return jobState(id, job.documentId);
    });
    expect(state).toEqual({ outbox: { status: 'published', attempts: 2, error: null }, document: 'processed' });
    expect(calls.get(job.documentId)).toBe(3);
    expect(seen).toContain('pending/pending');
  });

  it('still fails a non-retryable answer (404) at once when retries are on', async () => {
    const job = await newDocument('http404');
    const id = await enqueue(job);
    const state = await withWorker({ DOCUMENT_MAX_ATTEMPTS: '5', BACKOFF_BASE_MS: '50' }, () => settled(id, job.documentId));
    expect(state).toEqual({ outbox: { status: 'dead', attempts: 1, error: 'sidecar answered HTTP 404: {"detail":"Not Found"}' }, document: 'failed' });
    expect(calls.get(job.documentId)).toBe(1);
  });

  it('skips a job whose document is already processed', async () => {
    const job = await newDocument('ok');
    await db.sql`UPDATE documents SET processing_status = 'processed' WHERE id = ${job.documentId}`;
    const id = await enqueue(job);
    const state = await withWorker({}, () => settled(id, job.documentId));
    expect(state).toEqual({ outbox: { status: 'published', attempts: 0, error: null }, document: 'processed' });
    expect(calls.get(job.documentId)).toBeUndefined();
  });

  it('runs a job enqueued twice with the same dedupe key once', async () => {
    const job = await newDocument('ok');
    const first = await db.sql.begin((tx) => enqueueDocumentPreprocess(tx, job));
    const second = await db.sql.begin((tx) => enqueueDocumentPreprocess(tx, job));
    expect(first).toEqual(expect.any(Number));
    expect(second).toBeNull();
    await withWorker({}, () => settled(first!, job.documentId));
    expect(await outboxRowsFor(job.documentId)).toBe(1);
    expect(calls.get(job.documentId)).toBe(1);
  });

  it('enqueues nothing when the caller rolls its transaction back', async () => {
    const job = await newDocument('ok');
    await expect(
      db.sql.begin(async (tx) => {
        await enqueueDocumentPreprocess(tx, job);
        throw new Error('upload handler failed');
      }),
    ).rejects.toThrow('upload handler failed');
    expect(await outboxRowsFor(job.documentId)).toBe(0);
  });

  it('leaves chat rows alone', async () => {
    const id = (await enqueueOutbox(db.sql, { type: 'message.created', orderingKey: randomUUID(), payload: { id: 1 } }))!;
    const job = await newDocument('ok');
    const docId = await enqueue(job);
    await withWorker({}, () => settled(docId, job.documentId));
    expect((await jobState(id)).outbox.status).toBe('pending');
    await db.sql`DELETE FROM outbox WHERE id = ${id}`;
  });

  it('wakes on NOTIFY instead of waiting for the poll interval', async () => {
    const listenSql = createSql(db.url, { max: 1 });
    try {
      await withWorker(
        { POLL_INTERVAL_MS: '60000' },
        async () => {
          await sleep(200); // the first round has run and the loop sleeps
          const job = await newDocument('ok');
          const id = await enqueue(job);
          const started = Date.now();
          await settled(id, job.documentId, 5000);
          expect(Date.now() - started).toBeLessThan(2000);
        },
        listenSql,
      );
    } finally {
      await listenSql.end({ timeout: 1 });
    }
  });

  it('counts its jobs in the worker metrics under worker="document"', async () => {
    const registry = createRegistry();
    const ok = await newDocument('ok');
    const failing = await newDocument('http500');
    const ids = [await enqueue(ok), await enqueue(failing)];
    await withWorker({}, () => Promise.all(ids.map((id) => settled(id))), null, createOutboxWorkerMetrics(registry, 'document'));
    const text = await registry.metrics();
    expect(text).toContain('arcyou_worker_jobs_total{worker="document",type="document.preprocess.v1",status="published"} 1');
    expect(text).toContain('arcyou_worker_jobs_total{worker="document",type="document.preprocess.v1",status="dead"} 1');
  });

  it('reprocesses a failed document once an operator requeues its dead row', async () => {
    const job = await newDocument('http500');
    const id = await enqueue(job);
    await withWorker({}, async () => {
      expect(await settled(id, job.documentId)).toMatchObject({ outbox: { status: 'dead' }, document: 'failed' });
      modes.set(job.documentId, 'ok');
      expect(await requeueDead(db.sql, { type: null, ids: [id], olderThanMs: null })).toEqual([{ id, type: 'document.preprocess.v1' }]);
      await expect.poll(async () => (await jobState(id, job.documentId)).document, { timeout: 5000 }).toBe('processed');
    });
    expect((await jobState(id)).outbox).toEqual({ status: 'published', attempts: 0, error: null });
  });
});
