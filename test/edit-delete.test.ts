// Editing and deleting messages over the WebSocket, with members on two gateways: the events
// reach every member in their place among the messages, the change shows in history and
// backfill, and only who may change a message can.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { processTestBed } from './support/process-bed';
import { redisUrl } from './support/services';
import { clientPool } from './support/client-pool';

describe('edit and delete', () => {
  const bed = processTestBed();
  let gateways: Array<RunningProcess & { port: number }>;
  const clients = clientPool();
  const connect = (gateway: number, userId: string, roomId: string) => clients.member(gateways[gateway]!.port, userId, roomId);

  beforeAll(async () => {
    const env = {
      DATABASE_URL: bed.db.url,
      REDIS_URL: redisUrl(),
      PUBSUB_MODE: 'perconv',
      LOG_LEVEL: 'info',
      RL_BUCKET_CAPACITY: '10000',
      RL_REFILL_MS: '1000',
    };
    gateways = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
    const worker = await startWorkerProcess(env);
    bed.procs.push(...gateways, worker);
  });
  afterAll(() => {
    clients.closeAll();
  });

  it('edits reach members on both gateways after the messages before them; history and backfill show the new content', async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(bed.db.sql, [alice, bob, carol]);
    const a = await connect(0, alice, roomId);
    const b = await connect(0, bob, roomId);
    const c = await connect(1, carol, roomId);
    const first = await a.request({ op: 'send', room_id: roomId, content: { text: 'helo' } });
    await a.request({ op: 'send', room_id: roomId, content: { text: 'second' } });
    const edited = await a.request({ op: 'edit', room_id: roomId, message_id: first.message_id, content: { text: 'hello' } });
    expect(edited).toMatchObject({ success: true, message: { id: first.message_id, seq: 1, content: { text: 'hello' } } });
    expect(edited.message.updated_at).toBeTruthy();
    await a.request({ op: 'send', room_id: roomId, content: { text: 'third' } });
    for (const member of [b, c]) {
      const events = await member.waitForEvents(4, roomId, 10_000);
      expect(events.map((e) => e.type)).toEqual(['message.created', 'message.created', 'message.updated', 'message.created']);
      expect(events[2]).toMatchObject({ seq: 2, data: { message: { id: first.message_id, content: { text: 'hello' } } } });
    }
    // A member joining now reads the edited content (and the edit, in its place).
    const late = await connect(1, bob, roomId);
    const backfill = await late.waitForEvents(4, roomId);
    expect(backfill.map((e) => e.message?.content?.text ?? e.type)).toEqual(['hello', 'second', 'message.updated', 'third']);
  });

  it('deletes: the author, or an owner or manager; the message is gone from backfill and everyone gets message.deleted', async () => {
    const [alice, bob, boss] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(bed.db.sql, [alice, bob, boss]);
    await bed.db.sql`UPDATE arcyou_chat_members SET role = 'manager' WHERE room_id = ${roomId} AND user_id = ${boss}`;
    const a = await connect(0, alice, roomId);
    const b = await connect(1, bob, roomId);
    const m = await connect(1, boss, roomId);
    const mine = await a.request({ op: 'send', room_id: roomId, content: { text: 'oops' } });
    const bobs = await b.request({ op: 'send', room_id: roomId, content: { text: 'rude' } });
    expect(await a.request({ op: 'delete', room_id: roomId, message_id: bobs.message_id })).toMatchObject({ success: false, error: 'Forbidden: not allowed' });
    expect(await a.request({ op: 'edit', room_id: roomId, message_id: bobs.message_id, content: { text: 'x' } })).toMatchObject({
      success: false,
      error: 'Forbidden: not allowed',
    });
    expect(await a.request({ op: 'delete', room_id: roomId, message_id: mine.message_id })).toMatchObject({ success: true, message_id: mine.message_id });
    expect(await m.request({ op: 'delete', room_id: roomId, message_id: bobs.message_id })).toMatchObject({ success: true });
    // Gone: neither deleted nor edited again.
    expect(await a.request({ op: 'delete', room_id: roomId, message_id: mine.message_id })).toMatchObject({ success: false, error: 'not_found' });
    expect(await a.request({ op: 'edit', room_id: roomId, message_id: mine.message_id, content: { text: 'x' } })).toMatchObject({
      success: false,
      error: 'not_found',
    });
    for (const member of [a, b, m]) {
      const deletes = await member.waitFor((f) => f.type === 'message.deleted' && f.data?.message_id === bobs.message_id, 10_000);
      expect(deletes).toMatchObject({ seq: 2, data: { message_seq: 2 } });
    }
    expect(
      a
        .events(roomId)
        .filter((e) => e.type === 'message.deleted')
        .map((e) => e.data.message_id),
    ).toEqual([mine.message_id, bobs.message_id]);
    const [row] = await bed.db.sql<
      { content: unknown; status: string }[]
    >`SELECT content, status::text FROM arcyou_chat_messages WHERE id = ${mine.message_id}`;
    expect(row).toEqual({ content: {}, status: 'deleted' });
    const late = await connect(0, alice, roomId);
    await late.waitFor((f) => f.op === 'join');
    await sleep(300);
    expect(late.events(roomId).filter((e) => e.type === 'message.created')).toEqual([]);
  });

  it('refuses a change to a message of another room, an unknown one, and one by a non-member, and changes nothing', async () => {
    const [alice, mallory] = [newUser(), newUser()];
    const roomId = await createRoom(bed.db.sql, [alice]);
    const otherRoom = await createRoom(bed.db.sql, [alice, mallory]);
    const a = await connect(0, alice, roomId);
    const x = await connect(0, mallory, otherRoom);
    const sent = await a.request({ op: 'send', room_id: roomId, content: { text: 'keep' } });
    await a.request({ op: 'join', room_id: otherRoom });
    expect(await a.request({ op: 'edit', room_id: otherRoom, message_id: sent.message_id, content: { text: 'moved?' } })).toMatchObject({
      success: false,
      error: 'not_found',
    });
    expect(await a.request({ op: 'delete', room_id: roomId, message_id: 987_654_321 })).toMatchObject({ success: false, error: 'not_found' });
    expect(await x.request({ op: 'delete', room_id: roomId, message_id: sent.message_id })).toMatchObject({ success: false, error: 'Forbidden: not joined' });
    expect(await a.request({ op: 'edit', room_id: roomId, message_id: sent.message_id })).toMatchObject({ success: false, error: 'invalid_request' });
    const [row] = await bed.db.sql<{ content: unknown }[]>`SELECT content FROM arcyou_chat_messages WHERE id = ${sent.message_id}`;
    expect(row!.content).toEqual({ text: 'keep' });
    const outbox = await bed.db.sql`SELECT 1 FROM outbox WHERE type IN ('message.updated', 'message.deleted') AND room_id IN (${roomId}, ${otherRoom})`;
    expect(outbox).toHaveLength(0);
  });
});
