// Workers wake on NOTIFY (SPEC §7): a message reaches the other member in milliseconds,
// not after the poll interval.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

describe('send → live event latency with POLL_INTERVAL_MS=5000', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ POLL_INTERVAL_MS: '5000' });
  });
  afterAll(() => system.stop());

  it('delivers well before one poll interval, every time', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = await TestClient.connect(system.port);
    const b = await TestClient.connect(system.port);
    await a.login(alice, roomId);
    await b.login(bob, roomId);
    await new Promise((r) => setTimeout(r, 200)); // let the worker settle into its 5 s sleep

    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const reply = await a.request({ op: 'send', room_id: roomId, content: { i } });
      await b.waitFor((f) => f.message?.id === reply.message_id, 5000);
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Polling alone would take up to 5000 ms; NOTIFY takes a few. 1 s leaves room for a loaded CI machine.
    expect(Math.max(...latencies)).toBeLessThan(1000);
    a.close();
    b.close();
  });
});
