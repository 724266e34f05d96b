// The bench load generator's connectors (bench/load/wire.ts) against a real gateway: raw
// frames and the client SDK (--our-client=sdk) both join, send, and hand the receiver the
// sender's stamp.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type OurClient, type Stamp } from '../bench/load/wire';
import { createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';

describe('bench load-generator connectors', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem();
  });
  afterAll(() => system?.stop());

  it.each(['frames', 'sdk'] as OurClient[])('%s: a stamp sent by one socket reaches the other', async (ourClient) => {
    const [writer, reader] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [writer, reader]);
    const got: Stamp[] = [];
    const [w, r] = await Promise.all([
      connect('ours', system.port, writer, roomId, () => {}, ourClient),
      connect('ours', system.port, reader, roomId, (stamp) => got.push(stamp), ourClient),
    ]);
    const stamp = { t: Date.now() + 0.5, w: 7, s: 0 };
    w.send(roomId, stamp);
    const deadline = Date.now() + 5000;
    while (got.length === 0 && Date.now() < deadline) await sleep(20);
    expect(got).toHaveLength(1);
    expect(got[0]!.t).toBe(stamp.t);
    expect(got[0]!.w).toBe(7);
    expect(w.sendErrors + r.sendErrors).toBe(0);
    w.close();
    r.close();
    expect(w.closedUnexpectedly || r.closedUnexpectedly).toBe(false);
  });
});
