// Workers wake on NOTIFY (README: How a message travels): a message reaches the other member in milliseconds,
// not after the poll interval.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membersInRoom } from './support/room-members';
import { startSystem, type TestSystem } from './support/system';
import { type TestClient } from './support/ws-client';

describe('send → live event latency with POLL_INTERVAL_MS=5000', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ POLL_INTERVAL_MS: '5000' });
  });
  afterAll(() => system.stop());

  it('delivers well before one poll interval, every time', async () => {
    const { roomId, clients } = await membersInRoom(system.sql, system.port, 2);
    const [a, b] = clients as [TestClient, TestClient];
    await sleep(200); // let the worker settle into its 5 s sleep

    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const reply = await a.request({ op: 'send', room_id: roomId, content: { i } });
      await b.waitFor((f) => f.message?.id === reply.message_id, 5000);
      latencies.push(performance.now() - started);
      await sleep(50);
    }
    // Polling alone would take up to 5000 ms; NOTIFY takes a few. 1 s leaves room for a loaded CI machine.
    expect(Math.max(...latencies)).toBeLessThan(1000);
    a.close();
    b.close();
  });

  it('delivers a burst of concurrent sends (wake-ups coalesced) without waiting for a poll', async () => {
    const { roomId, clients } = await membersInRoom(system.sql, system.port, 12);
    const reader = clients[0]!;
    await sleep(200); // the worker is asleep for 5 s

    const started = performance.now();
    const replies = await Promise.all(
      clients.flatMap((c, i) => Array.from({ length: 5 }, (_, j) => c.request({ op: 'send', room_id: roomId, content: { i, j } }))),
    );
    expect(replies.every((r) => r.success)).toBe(true);
    await reader.waitForEvents(replies.length, roomId, 5000);
    expect(performance.now() - started).toBeLessThan(1500);
    for (const c of clients) c.close();
  });
});

describe('coalesced wake-ups (OUTBOX_NOTIFY_WINDOW_MS)', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ POLL_INTERVAL_MS: '5000', OUTBOX_NOTIFY_WINDOW_MS: '1000' });
  });
  afterAll(() => system.stop());

  it('wakes the sleeping worker for a send that skipped its own NOTIFY, within the window, not the poll', async () => {
    const { roomId, clients } = await membersInRoom(system.sql, system.port, 2);
    const [a, b] = clients as [TestClient, TestClient];
    await sleep(1100); // a fresh window

    const first = await a.request({ op: 'send', room_id: roomId, content: { n: 1 } }); // notifies inline
    await b.waitFor((f) => f.message?.id === first.message_id, 2000);
    await sleep(100); // the worker found nothing more and sleeps (5 s)
    const started = performance.now();
    const second = await a.request({ op: 'send', room_id: roomId, content: { n: 2 } }); // inside the window: no inline NOTIFY
    await b.waitFor((f) => f.message?.id === second.message_id, 4000);
    expect(performance.now() - started).toBeLessThan(2500); // the trailing NOTIFY (≤ 1 s), not the poll (5 s)
    a.close();
    b.close();
  });
});
