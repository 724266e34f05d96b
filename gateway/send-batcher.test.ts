// The group commit (gateway/send-batcher.ts) against a real database and the in-process bus.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../shared/bus/memory-bus';
import { GLOBAL_CHANNEL } from '../shared/bus/channels';
import { createRoomBus } from '../shared/bus/room-bus';
import { createLogger } from '../shared/logger';
import { messageIdOf, routeOf, type EventRoute } from '../shared/protocol/events';
import { createRoom, newUser } from '../test/support/fixtures';
import { createTestDatabase, type TestDatabase } from '../test/support/services';
import { createOutboxWaker } from './outbox-waker';
import { createSendBatcher } from './send-batcher';

describe('send batcher', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const setup = (maxBatch: number, windowMs = 0) => {
    const bus = createMemoryBus();
    const batches: number[] = [];
    const own: Array<{ frame: string; route: EventRoute }> = [];
    const batcher = createSendBatcher({
      sql: db.sql,
      bus: createRoomBus(bus, 'global'),
      logger: createLogger('test', 'silent'),
      waker: createOutboxWaker(50, () => {}),
      fastPathOwner: 'gateway:batcher-test',
      fastLockSeconds: 30,
      maxBatch,
      concurrency: 4,
      windowMs,
      onBatch: (size) => batches.push(size),
      deliverOwn: (frame, _eventSeq, route) => own.push({ frame, route }),
    });
    return { bus, batcher, batches, own };
  };

  /** A batcher and a room of `members`; send(n) sends as member n % members, from connection n. */
  const roomSends = async (members: number, maxBatch: number, windowMs = 0) => {
    const users = Array.from({ length: members }, newUser);
    const roomId = await createRoom(db.sql, users);
    const { batcher, batches } = setup(maxBatch, windowMs);
    const send = (n: number) => batcher.send({ roomId, userId: users[n % members]!, content: { n }, extra: {} }, { connection: n });
    return { batcher, batches, send };
  };

  it('starts a second batch while one is being written only for a full one: small ones wait and go together', async () => {
    const { batcher, batches, send } = await roomSends(4, 3);
    // One send goes at once; the two behind it are not a full batch: they wait for it.
    const first = [send(0), send(1), send(2)];
    await Promise.all(first);
    await batcher.drain();
    expect(batches).toEqual([1, 2]);
    // Four waiting behind a batch being written are a full batch (3) and then some.
    const second = [send(3), send(4), send(5), send(6), send(7)];
    await Promise.all(second);
    expect(batches.slice(2)).toEqual([1, 3, 1]);
    await batcher.drain();
  });

  it('with a window, holds a send that finds no batch being written that long for others to join it', async () => {
    const { batcher, batches, send } = await roomSends(3, 10, 300);
    // The first send of all is written at once: nothing tells yet that others follow.
    await send(0);
    const heldAt = performance.now();
    const held = send(1);
    await sleep(50);
    // Sent 50 ms later, into the same window: one statement for both.
    const joined = send(2);
    await Promise.all([held, joined]);
    expect(performance.now() - heldAt).toBeGreaterThanOrEqual(290);
    expect(batches).toEqual([1, 2]);
    await batcher.drain();
  });

  it('with a window, writes a full batch at once', async () => {
    const { batcher, batches, send } = await roomSends(3, 2, 60_000);
    await send(0);
    // Not held for the minute of the window: the test would time out.
    await Promise.all([send(1), send(2)]);
    expect(batches).toEqual([1, 2]);
    await batcher.drain();
  });

  it('with a window, does not hold sends that come slower than one per two windows', async () => {
    const { batcher, batches, send } = await roomSends(3, 10, 1000);
    await send(0);
    await sleep(2100);
    const startedAt = performance.now();
    await send(1);
    // Written at once, not after the 1 s window.
    expect(performance.now() - startedAt).toBeLessThan(900);
    expect(batches).toEqual([1, 1]);
    await batcher.drain();
  });

  it('publishes each message it stores on the bus itself, and deletes its outbox row', async () => {
    const users = [newUser()];
    const roomId = await createRoom(db.sql, users);
    const { bus, batcher, own } = setup(10);
    const heard: string[] = [];
    bus.onMessage((_channel, frame) => heard.push(frame));
    await bus.subscribe(GLOBAL_CHANNEL);
    const stored = await batcher.send({ roomId, userId: users[0]!, content: { text: 'hi' }, extra: { temp_id: 't-1' } }, {});
    await batcher.drain();
    expect(heard).toHaveLength(1);
    expect(JSON.parse(heard[0]!)).toMatchObject({ roomId, type: 'message.created', message: { id: stored!.id, seq: 1, temp_id: 't-1' } });
    // Handed to this gateway's own sockets as published, with the route read back from it;
    // its copy from the bus is told by its id without parsing it.
    expect(own).toEqual([{ frame: heard[0], route: routeOf(heard[0]!) }]);
    expect(messageIdOf(heard[0]!)).toBe(stored!.id);
    // Published: its outbox row is gone.
    expect(await db.sql`SELECT id FROM outbox WHERE room_id = ${roomId}`).toHaveLength(0);
  });
});
