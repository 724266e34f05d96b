// A join with a large unread backlog: a client that reads normally gets the join reply and
// its whole backfill (up to BACKFILL_LIMIT) without being closed as a slow consumer — the
// gateway must pace the backfill to the socket, not dump it past WS_SEND_HIGH_WATER — and
// the gateway must not hold every joiner's whole backfill in memory at once.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../shared/db/client';
import { startGatewayProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

const MESSAGES = 500; // the default BACKFILL_LIMIT
const PAD = 'x'.repeat(60 * 1024);

/** `MESSAGES` already published messages of ~60 KiB each (their outbox rows long gone), unread by everyone. */
async function bigBacklog(sql: Sql, roomId: string, userId: string): Promise<void> {
  await sql`
    WITH message AS (
      INSERT INTO arcyou_chat_messages (room_id, seq, user_id, content)
      SELECT ${roomId}, n, ${userId}, jsonb_build_object('n', n, 'pad', ${PAD}::text) FROM generate_series(1, ${MESSAGES}) AS n
      RETURNING id
    )
    UPDATE arcyou_chat_rooms SET last_message_id = (SELECT max(id) FROM message), last_seq = ${MESSAGES} WHERE id = ${roomId}`;
}

describe('backfill of a large backlog (default WS_SEND_HIGH_WATER and BACKFILL_LIMIT)', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({}, { worker: false });
  });
  afterAll(() => system.stop());

  // The gateway runs in this process, so the client reads only when the gateway yields to
  // the event loop: a gateway that writes the whole 30 MB backfill in one go is past its
  // high-water mark every time, one that waits for the socket to drain never is.
  it('sends a normally reading client the join reply and its whole 500 × 60 KiB backfill without closing it', async () => {
    const [writer, reader] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [writer, reader]);
    await bigBacklog(system.sql, roomId, writer);
    const client = await TestClient.connect(system.port);
    try {
      await client.login(reader);
      let closedWith: number | null = null;
      void client.closed.then(({ code }) => (closedWith = code));
      const join = await client.request({ op: 'join', room_id: roomId }, 30_000);
      expect(join).toMatchObject({ op: 'join', success: true, room_id: roomId });
      // Until the whole backfill is in, or the socket closed (no point waiting then).
      const deadline = Date.now() + 30_000;
      while (client.events(roomId).length < MESSAGES && closedWith === null && Date.now() < deadline) await sleep(20);
      await sleep(300);
      expect(closedWith, `the gateway closed the reading client after ${client.events(roomId).length} of ${MESSAGES} backfilled messages`).toBeNull();
      expect(client.events(roomId)).toHaveLength(MESSAGES);
      const ids = client.events(roomId).map((e) => e.message.id as number);
      expect(new Set(ids).size).toBe(MESSAGES);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    } finally {
      client.close();
    }
  }, 60_000);
});

describe('gateway memory while members join with a large backlog', () => {
  let db: TestDatabase;
  let gateway: RunningProcess & { port: number };
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    gateway?.child.kill('SIGKILL');
    await db?.drop();
  });

  /** A client that authenticates, joins, reads normally and only counts events (it keeps none) until it has `expected`. */
  const joinAndRead = (port: number, userId: string, roomId: string, expected = MESSAGES) =>
    new Promise<{ events: number; closeCode: number | null; joined: boolean }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      const result = { events: 0, closeCode: null as number | null, joined: false };
      const timer = setTimeout(() => (ws.terminate(), resolve(result)), 45_000);
      const finish = () => {
        clearTimeout(timer);
        ws.close();
        resolve(result);
      };
      ws.on('open', () => {
        ws.send(JSON.stringify({ op: 'auth', token: userId, request_id: 'auth' }));
      });
      ws.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('{"op":"event"')) {
          if (++result.events >= expected) finish();
          return;
        }
        const frame = JSON.parse(text) as { request_id?: string; success?: boolean };
        if (frame.request_id === 'auth') ws.send(JSON.stringify({ op: 'join', room_id: roomId, request_id: 'join' }));
        if (frame.request_id === 'join') {
          result.joined = frame.success === true;
          if (expected === 0) finish();
        }
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        result.closeCode ??= code;
        resolve(result);
      });
      ws.on('error', reject);
    });
  const memory = (pid: number) => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm'))![1]) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  };

  // Measured on main 0c72ddb (2 shared cores): 8 joins of this backlog took the gateway from
  // 106 MB to a peak of 726 MB (+620 MB) — each join loads its 30 MB backfill as one value.
  // Reading it in pages, paced by each socket's backpressure, needs a fraction of that; the
  // bound leaves room for pages in flight on 8 sockets and for the garbage collector.
  const MAX_GROWTH_MB = 250;

  it(`grows the gateway's RSS by less than ${MAX_GROWTH_MB} MB while 8 members join a room with a 500 × 60 KiB backlog`, async () => {
    gateway = await startGatewayProcess({ DATABASE_URL: db.url, REDIS_URL: redisUrl(), LOG_LEVEL: 'info', PUBSUB_MODE: 'perconv' });
    const writer = newUser();
    const readers = Array.from({ length: 8 }, () => newUser());
    const roomId = await createRoom(db.sql, [writer, ...readers]);
    await bigBacklog(db.sql, roomId, writer);
    // Warm up (code paths, pools) with a join that has nothing to backfill.
    const warm = newUser();
    const warmRoom = await createRoom(db.sql, [warm]);
    await joinAndRead(gateway.port, warm, warmRoom, 0);
    await sleep(500);

    const before = memory(gateway.pid);
    const results = await Promise.all(readers.map((userId) => joinAndRead(gateway.port, userId, roomId)));
    const after = memory(gateway.pid);
    const growthMb = (after.peak - before.rss) / 1024 / 1024;
    console.log(
      `backfill memory: RSS ${(before.rss / 1048576).toFixed(0)} MB before, peak ${(after.peak / 1048576).toFixed(0)} MB during 8 joins (+${growthMb.toFixed(0)} MB); ` +
        `events per client ${results.map((r) => r.events).join(', ')}; close codes ${results.map((r) => r.closeCode).join(', ')}`,
    );
    expect(growthMb, 'gateway RSS growth (peak during the joins − RSS before), MB').toBeLessThan(MAX_GROWTH_MB);
    // And not by dropping them: each reader got its whole backfill.
    expect(results.map((r) => r.joined && r.events === MESSAGES)).toEqual(readers.map(() => true));
  }, 90_000);
});
