// Security (issue 6): no path into a room one is not a member of (join, send, ack,
// backfill, forged or aliased room ids, a membership revoked while connected); tokens
// never reach the logs; SQL only ever with bound parameters.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, ROOT } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';
import { scanSource, type SqlFinding } from './support/sql-scan';
import { startSystem, type TestSystem } from './support/system';
import { TestClient, type Frame } from './support/ws-client';

const NOT_A_MEMBER = 'Forbidden: not a member';
const NOT_JOINED = 'Forbidden: not joined';

for (const mode of ['perconv', 'global'] as const) {
  describe(`room access (PUBSUB_MODE=${mode})`, () => {
    let system: TestSystem;
    const clients: TestClient[] = [];
    const connect = async (userId: string, roomId?: string) => {
      const client = await TestClient.connect(system.port);
      clients.push(client);
      await client.login(userId, roomId);
      return client;
    };
    const messagesIn = async (roomId: string) =>
      (await system.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${roomId}`)[0]!.n;
    const memberRow = async (roomId: string, userId: string) =>
      (
        await system.sql<{ last_read_message_id: number | null; deleted_at: Date | null }[]>`
        SELECT last_read_message_id, deleted_at FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${userId}`
      )[0] ?? null;
    /** Alice sends in the room and waits until her own live event is back: everything published before it reached this gateway. */
    const sendAndSettle = async (alice: TestClient, roomId: string, text: string) => {
      const reply = await alice.request({ op: 'send', room_id: roomId, content: { text } });
      expect(reply.success).toBe(true);
      await alice.waitFor((f) => f.op === 'event' && f.message?.id === reply.message_id, 5000, `event ${text}`);
      return reply.message_id as number;
    };

    beforeAll(async () => {
      system = await startSystem({ PUBSUB_MODE: mode, RL_BUCKET_CAPACITY: '1000' });
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await system.stop();
    });

    it('refuses to join a room the user is not in, by any name for it, and sends none of its messages', async () => {
      const [alice, bob, mallory] = [newUser(), newUser(), newUser()];
      const room = await createRoom(system.sql, [alice, bob]);
      const own = await createRoom(system.sql, [mallory]);
      const a = await connect(alice, room);
      await sendAndSettle(a, room, 'before mallory');
      const m = await connect(mallory);

      for (const ref of [{ room_id: room }, { conversation_id: room }, { room_id: room.toUpperCase() }, { conversation_id: room.toUpperCase() }]) {
        expect(await m.request({ op: 'join', ...ref })).toMatchObject({ success: false, error: NOT_A_MEMBER, room_id: room });
      }
      // Aliases naming two rooms are refused outright, whichever of them she is in.
      for (const ref of [
        { room_id: own, conversation_id: room },
        { room_id: room, conversation_id: own },
      ]) {
        expect(await m.request({ op: 'join', ...ref })).toMatchObject({ success: false, error: 'invalid_request' });
      }
      await sendAndSettle(a, room, 'after mallory tried');
      expect(m.frames.filter((f) => f.op === 'event')).toEqual([]);
    });

    it('refuses send and ack to a room the user did not join, however it is named, and writes nothing', async () => {
      const [alice, mallory] = [newUser(), newUser()];
      const room = await createRoom(system.sql, [alice]);
      const own = await createRoom(system.sql, [mallory]);
      const a = await connect(alice, room);
      const lastRead = await sendAndSettle(a, room, 'hello');
      await a.request({ op: 'ack', room_id: room, last_read_message_id: lastRead });
      const m = await connect(mallory, own);
      const before = { inRoom: await messagesIn(room), inOwn: await messagesIn(own) };

      for (const ref of [{ room_id: room }, { conversation_id: room }, { room_id: room.toUpperCase() }]) {
        expect(await m.request({ op: 'send', ...ref, content: { text: 'intrusion' } })).toMatchObject({ success: false, error: NOT_JOINED });
        expect(await m.request({ op: 'ack', ...ref, last_read_message_id: 0 })).toMatchObject({ success: false, error: NOT_JOINED });
      }
      for (const ref of [
        { room_id: own, conversation_id: room },
        { room_id: room, conversation_id: own },
      ]) {
        expect(await m.request({ op: 'send', ...ref, content: { text: 'intrusion' } })).toMatchObject({ success: false, error: 'invalid_request' });
        expect(await m.request({ op: 'ack', ...ref, last_read_message_id: 0 })).toMatchObject({ success: false, error: 'invalid_request' });
      }
      expect(await messagesIn(room)).toBe(before.inRoom);
      expect(await messagesIn(own)).toBe(before.inOwn);
      expect(await memberRow(room, mallory)).toBeNull();
      expect((await memberRow(room, alice))!.last_read_message_id).toBe(lastRead);
      await sendAndSettle(a, room, 'after');
      expect(m.events(room)).toEqual([]);
      expect(a.events(room).every((e) => e.message.user_id === alice)).toBe(true);
    });

    it('treats a room id in any letter case as the same room (membership, backfill and live events)', async () => {
      const [alice, bob] = [newUser(), newUser()];
      const room = await createRoom(system.sql, [alice, bob]);
      const a = await connect(alice, room);
      const first = await sendAndSettle(a, room, 'backfilled');
      const b = await connect(bob);
      expect(await b.request({ op: 'join', room_id: room.toUpperCase() })).toMatchObject({ success: true, room_id: room });
      await b.waitFor((f) => f.op === 'event' && f.message?.id === first && f.source === 'backfill');
      const second = await sendAndSettle(a, room, 'live');
      await b.waitFor((f) => f.op === 'event' && f.message?.id === second && f.source === 'live');
      const reply = await b.request({ op: 'send', conversation_id: room.toUpperCase(), content: { text: 'upper' } });
      expect(reply).toMatchObject({ success: true });
      await a.waitFor((f) => f.op === 'event' && f.message?.id === reply.message_id);
    });

    for (const how of ['deleted_at set', 'member row deleted'] as const) {
      it(`stops live events to a member removed while connected (${how}), and refuses its send, ack and join`, async () => {
        const [alice, bob] = [newUser(), newUser()];
        const room = await createRoom(system.sql, [alice, bob]);
        const a = await connect(alice, room);
        const b = await connect(bob, room);
        const seen = await sendAndSettle(a, room, 'while a member');
        await b.waitFor((f) => f.op === 'event' && f.message?.id === seen);
        const framesBefore = b.frames.length;

        if (how === 'deleted_at set') await system.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${room} AND user_id = ${bob}`;
        else await system.sql`DELETE FROM arcyou_chat_members WHERE room_id = ${room} AND user_id = ${bob}`;

        const after = [await sendAndSettle(a, room, 'after removal 1'), await sendAndSettle(a, room, 'after removal 2')];
        await sleep(300);
        const leaked = b.frames.slice(framesBefore).filter((f: Frame) => f.op === 'event' && f.roomId === room && f.type === 'message.created');
        expect(leaked.map((f) => f.message.id)).toEqual([]);
        expect(after.every((id) => !b.events(room).some((e) => e.message?.id === id))).toBe(true);

        const messages = await messagesIn(room);
        expect(await b.request({ op: 'send', room_id: room, content: { text: 'still here?' } })).toMatchObject({ success: false });
        expect(await b.request({ op: 'ack', room_id: room, last_read_message_id: after[1]! })).toMatchObject({ success: false });
        expect(await b.request({ op: 'join', room_id: room })).toMatchObject({ success: false, error: NOT_A_MEMBER });
        const fresh = await connect(bob);
        expect(await fresh.request({ op: 'join', room_id: room })).toMatchObject({ success: false, error: NOT_A_MEMBER });
        await sendAndSettle(a, room, 'after removal 3');
        await sleep(200);
        expect(await messagesIn(room)).toBe(messages + 1);
        expect(fresh.events(room)).toEqual([]);
        expect(b.frames.slice(framesBefore).filter((f: Frame) => f.op === 'event' && f.type === 'message.created')).toEqual([]);
        const row = await memberRow(room, bob);
        if (row) expect(row.last_read_message_id).not.toBe(after[1]);
      });
    }
  });
}

describe('tokens in the logs', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('never writes a token, or any part of one, to the gateway log, even at LOG_LEVEL=trace', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const userId = newUser();
    const room = await createRoom(db.sql, [userId]);
    const sign = (key: typeof privateKey, expiresIn: string | number = '5m') =>
      new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(userId).setIssuedAt().setExpirationTime(expiresIn).sign(key);
    const valid = await sign(privateKey);
    const badSignature = await sign(other.privateKey);
    const expired = await sign(privateKey, Math.floor(Date.now() / 1000) - 60);

    const gateway = await startGatewayProcess({
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      LOG_LEVEL: 'trace',
      JWT_PUBLIC_KEY: await exportSPKI(publicKey),
      MAX_BODY_BYTES: '4096',
      AUTH_TIMEOUT_MS: '500',
    });
    try {
      const client = await TestClient.connect(gateway.port);
      expect(await client.request({ op: 'auth', token: badSignature })).toMatchObject({ success: false, error: 'Unauthorized' });
      expect(await client.request({ op: 'auth', token: expired })).toMatchObject({ success: false, error: 'Unauthorized' });
      expect(await client.request({ op: 'auth', token: valid, extra: { token: valid } })).toMatchObject({ success: true, userId });
      expect(await client.request({ op: 'auth', token: [valid] })).toMatchObject({ success: false, error: 'invalid_request' });
      expect(await client.request({ op: valid, token: valid })).toMatchObject({ success: false, error: 'unknown_op' });
      expect(await client.request({ op: 'join', room_id: room, token: valid })).toMatchObject({ success: true });
      expect(await client.request({ op: 'send', room_id: room, content: { token: valid, authorization: `Bearer ${valid}` } })).toMatchObject({ success: true });
      client.sendRaw(`{"op":"auth","token":"${valid}`); // malformed JSON around a token
      await client.waitFor((f) => f.error === 'invalid_json');
      // A token in a frame over MAX_BODY_BYTES, and a connection that never authenticates.
      const oversize = await TestClient.connect(gateway.port);
      oversize.sendRaw(JSON.stringify({ op: 'auth', token: valid, pad: 'x'.repeat(5000) }));
      await oversize.closed;
      const silent = await TestClient.connect(gateway.port);
      silent.sendRaw(JSON.stringify({ op: 'join', room_id: room, token: valid }));
      await silent.closed;
      client.close();
    } finally {
      expect(await gateway.stop()).toBe(0);
    }

    const log = gateway.output();
    expect(log).toContain('gateway stopped'); // the log is there; it just holds no token
    for (const token of [valid, badSignature, expired]) {
      const [, payload, signature] = token.split('.');
      expect(log).not.toContain(token);
      expect(log).not.toContain(payload!);
      expect(log).not.toContain(signature!);
    }
  });
});

/** Unsafe SQL that is allowed, file by file, with the number of calls and why. Anything else fails. */
const ALLOWED_UNSAFE: Record<string, { count: number; why: string }> = {
  'shared/db/migrate.ts': { count: 2, why: 'runs the migration files in sql/, which are SQL text by definition (a whole file, or its statements one by one)' },
  'standalone/embedded-postgres.ts': { count: 1, why: 'CREATE DATABASE of a constant name' },
};

describe('SQL with bound parameters only', () => {
  it('has no sql.unsafe() outside the allowlist, and no SQL built from template strings or +', () => {
    // The repository's files (tracked, as CI sees them): a new file is checked once it is added.
    const files = execFileSync('git', ['ls-files', '--cached', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file && !file.startsWith('node_modules/'));
    expect(files.length).toBeGreaterThan(50);
    const findings = files.flatMap((file) => {
      try {
        return scanSource(file, readFileSync(`${ROOT}${file}`, 'utf8'));
      } catch {
        return []; // listed but deleted in the working tree
      }
    });
    const unsafeByFile = new Map<string, SqlFinding[]>();
    for (const f of findings.filter((f) => f.kind === 'unsafe-call')) unsafeByFile.set(f.file, [...(unsafeByFile.get(f.file) ?? []), f]);
    const allowedTemplateLines = new Set(
      [...unsafeByFile.values()]
        .flat()
        .filter((f) => ALLOWED_UNSAFE[f.file])
        .map((f) => `${f.file}:${f.line}`),
    );

    const unexpected = [
      ...[...unsafeByFile].filter(([file, found]) => found.length !== (ALLOWED_UNSAFE[file]?.count ?? 0)).flatMap(([, found]) => found),
      // A string-built statement handed to an allowed unsafe() call is reported with that call.
      ...findings.filter((f) => f.kind !== 'unsafe-call' && !allowedTemplateLines.has(`${f.file}:${f.line}`)),
    ].map((f) => `${f.file}:${f.line} ${f.kind}: ${f.text}`);
    expect(unexpected).toEqual([]);
    // An allowlist entry whose call is gone must go too, so the list only ever shrinks.
    expect(Object.keys(ALLOWED_UNSAFE).filter((file) => !unsafeByFile.has(file))).toEqual([]);
  });

  it('the scan catches string-built SQL and leaves tagged templates alone', () => {
    const bad = [
      'await sql.unsafe(`SELECT * FROM t WHERE id = ${id}`);',
      "const q = `DELETE FROM arcyou_chat_messages WHERE room_id = '${roomId}'`;",
      'const q = "SELECT id FROM outbox WHERE type = \'" + type + "\'";',
      'const q = `UPDATE arcyou_chat_members SET deleted_at = now() WHERE user_id = ${u}`;',
      'const q = `select id from outbox where type = ${t}`;',
      "const q = 'delete from documents where id = ' + id;",
      'await tx.unsafe(text, []);',
    ];
    for (const source of bad) expect(scanSource('x.ts', source), source).not.toEqual([]);
    const good = [
      'await sql`SELECT * FROM t WHERE id = ${id}`;',
      'await sql`INSERT INTO t ${sql(row)}`;',
      '// SELECT * FROM t WHERE id = ${id}',
      'throw new Error(`cannot select ${what} from the list`);',
      'logger.info(`updated ${n} rows`);',
      'const hint = `update the ${what} settings`;',
    ];
    for (const source of good) expect(scanSource('x.ts', source), source).toEqual([]);
  });
});
