// Protocol edges: an op pipelined right behind `auth` (sent without waiting for the auth
// reply) runs as the authenticated user; a socket whose JWT expires is closed (4003); and
// message ids beyond 2^53 are either reported exactly — and usable in ack — or refused,
// never reported wrong.
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { TestClient, type Frame } from './support/ws-client';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('RS256 sessions', () => {
  let system: TestSystem;
  let privateKey: PrivateKey;
  const clients: TestClient[] = [];
  const connect = async () => {
    const client = await TestClient.connect(system.port);
    clients.push(client);
    return client;
  };
  const sign = (userId: string, expiresAt: number | string = '5m') =>
    new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(userId).setIssuedAt().setExpirationTime(expiresAt).sign(privateKey);

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    system = await startSystem({ JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey), RL_BUCKET_CAPACITY: '1000' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await system.stop();
  });

  it('runs ops pipelined right behind auth (sent before its reply) as the authenticated user', async () => {
    const alice = newUser();
    const roomId = await createRoom(system.sql, [alice]);
    const client = await connect();
    const token = await sign(alice);
    // One after another, without waiting for any reply.
    client.sendRaw(JSON.stringify({ op: 'auth', token, request_id: 'auth' }));
    client.sendRaw(JSON.stringify({ op: 'join', room_id: roomId, request_id: 'join' }));
    client.sendRaw(JSON.stringify({ op: 'send', room_id: roomId, content: { text: 'pipelined' }, request_id: 'send' }));
    const reply = (id: string) => client.waitFor((f) => f.request_id === id, 5000, `the ${id} reply`);
    expect(await reply('auth')).toMatchObject({ op: 'auth', success: true, userId: alice });
    expect(await reply('join')).toMatchObject({ op: 'join', success: true, room_id: roomId });
    const sent = await reply('send');
    expect(sent).toMatchObject({ op: 'send', success: true });
    await client.waitFor((f) => f.op === 'event' && f.message?.id === sent.message_id, 5000, 'the pipelined message, live');
  });

  it('closes a socket with 4003 once the JWT it authenticated with has expired', async () => {
    const alice = newUser();
    const roomId = await createRoom(system.sql, [alice]);
    const client = await connect();
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    expect(await client.request({ op: 'auth', token: await sign(alice, expiresAt) })).toMatchObject({ success: true });
    expect(await client.request({ op: 'join', room_id: roomId })).toMatchObject({ success: true });
    const closed = await Promise.race([client.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), expiresAt * 1000 - Date.now() + 5000))]);
    expect(closed, 'the socket was still open 5 s after its token expired').not.toBeNull();
    expect(closed!.code).toBe(4003);
  }, 15_000);
});

describe('message ids beyond 2^53', () => {
  let system: TestSystem;
  let client: TestClient;
  const raw: string[] = [];
  beforeAll(async () => {
    system = await startSystem({}, { worker: false });
  });
  afterAll(async () => {
    client?.close();
    await system.stop();
  });

  /** The reply to a request sent as raw text, with the raw text of that reply (JSON.parse would round big numbers). */
  const requestRaw = async (text: string, requestId: string): Promise<{ reply: Frame; text: string }> => {
    client.sendRaw(text);
    const reply = await client.waitFor((f) => f.request_id === requestId, 5000, `the reply to ${requestId}`);
    const replyText = raw.find((t) => t.includes(`"request_id":"${requestId}"`))!;
    return { reply, text: replyText };
  };
  /** The literal a reply gives for `field` (a number or a string of digits), without the quotes. */
  const literal = (text: string, field: string) => text.match(new RegExp(`"${field}":("?)(\\d+)\\1`))?.[2] ?? null;
  const literalWithQuotes = (text: string, field: string) => text.match(new RegExp(`"${field}":("?\\d+"?)`))?.[1] ?? null;

  it('reports every message id exactly as stored, and accepts it in ack — or refuses the send with unavailable and stores nothing', async () => {
    const alice = newUser();
    const roomId = await createRoom(system.sql, [alice]);
    // The next ids: 2^53 − 1 (the largest safe integer), 2^53, 2^53 + 1.
    await system.sql`SELECT setval('arcyou_chat_messages_id_seq', ${'9007199254740990'}::bigint)`;
    client = await TestClient.connect(system.port);
    client.ws.on('message', (data) => raw.push(data.toString()));
    await client.login(alice, roomId);

    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const tag = `big-${i}`;
      const { reply, text } = await requestRaw(JSON.stringify({ op: 'send', room_id: roomId, content: { tag }, request_id: `send-${i}` }), `send-${i}`);
      const stored = await system.sql<{ id: string }[]>`SELECT id::text AS id FROM arcyou_chat_messages WHERE content->>'tag' = ${tag}`;
      if (!reply.success) {
        expect.soft(reply, `send ${i} refused`).toMatchObject({ op: 'send', success: false, error: 'unavailable' });
        expect.soft(stored, `send ${i} was refused but stored a message`).toEqual([]);
        outcomes.push(`send ${i}: refused`);
        continue;
      }
      expect.soft(stored).toHaveLength(1);
      // Each check is soft: one run reports every id that went wrong, not just the first.
      expect.soft(literal(text, 'message_id'), `send ${i}: the id in the reply ${text} vs the stored id`).toBe(stored[0]!.id);

      // ack with that id, written exactly as the reply wrote it.
      const ackText = `{"op":"ack","room_id":"${roomId}","last_read_message_id":${literalWithQuotes(text, 'message_id')},"request_id":"ack-${i}"}`;
      const ack = await requestRaw(ackText, `ack-${i}`);
      expect.soft(ack.reply, `ack ${i} with id ${stored[0]!.id}`).toMatchObject({ op: 'ack', success: true, room_id: roomId });
      expect.soft(literal(ack.text, 'last_read_message_id'), `ack ${i}: the position in the reply ${ack.text}`).toBe(stored[0]!.id);
      const [member] = await system.sql<{ last_read: string }[]>`
        SELECT last_read_message_id::text AS last_read FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${alice}`;
      expect.soft(member!.last_read, `ack ${i}: the stored read position`).toBe(stored[0]!.id);
      outcomes.push(`send ${i}: id ${stored[0]!.id}`);
    }
    console.log(`ids beyond 2^53: ${outcomes.join('; ')}`);
  });
});
