// A gateway killed: its clients reconnect to another gateway and backfill the gap from
// their last ack — every message once, in order.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { receivedIds } from './support/backlog';
import { startGatewayProcess, startWorkerProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { processTestBed } from './support/process-bed';
import { redisUrl } from './support/services';
import { TestClient } from './support/ws-client';

describe('gateway killed', () => {
  const bed = processTestBed();
  const { procs } = bed;

  it('its clients reconnect elsewhere and backfill exactly what they missed', async () => {
    const env = {
      DATABASE_URL: bed.db.url,
      REDIS_URL: redisUrl(),
      PUBSUB_MODE: 'perconv',
      LOG_LEVEL: 'info',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
    };
    const doomed = await startGatewayProcess(env);
    const survivor = await startGatewayProcess(env);
    const worker = await startWorkerProcess(env);
    procs.push(doomed, survivor, worker);
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(bed.db.sql, [alice, bob]);
    const a = await TestClient.connect(survivor.port);
    await a.login(alice, roomId);

    // Bob reads on the doomed gateway and acks what he sees, as a client app would.
    const bobSeen: number[] = [];
    const connectBob = async (port: number) => {
      const b = await TestClient.connect(port);
      b.ws.on('message', (data) => {
        const frame = JSON.parse(data.toString());
        if (frame.op === 'event' && frame.roomId === roomId) {
          bobSeen.push(frame.message.id);
          b.sendRaw(JSON.stringify({ op: 'ack', room_id: roomId, last_read_message_id: frame.message.id }));
        }
      });
      await b.login(bob, roomId);
      return b;
    };
    const b1 = await connectBob(doomed.port);
    const sent: number[] = [];
    for (let i = 0; i < 10; i++) sent.push((await a.request({ op: 'send', room_id: roomId, content: { i } })).message_id);
    await b1.waitForEvents(10, roomId);
    await sleep(200); // acks land

    doomed.child.kill('SIGKILL');
    await b1.closed;
    for (let i = 10; i < 25; i++) sent.push((await a.request({ op: 'send', room_id: roomId, content: { i } })).message_id);

    const b2 = await connectBob(survivor.port);
    await b2.waitForEvents(15, roomId);
    expect(b2.events(roomId).every((e) => e.source === 'backfill')).toBe(true);
    for (let i = 25; i < 30; i++) sent.push((await a.request({ op: 'send', room_id: roomId, content: { i } })).message_id);
    await b2.waitForEvents(20, roomId);
    await sleep(200);

    const got = receivedIds(bobSeen.map((id) => ({ message: { id } })));
    console.log(
      `gateway kill: sent ${sent.length}, Bob received ${got.ids.length} (${b2.events(roomId).filter((e) => e.source === 'backfill').length} by backfill after reconnecting)`,
    );
    expect(got.ids).toEqual(sent);
    expect(got.duplicates).toBe(0);
    await survivor.stop();
    await worker.stop();
  }, 60_000);
});
