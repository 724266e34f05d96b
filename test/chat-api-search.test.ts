// Message search over real HTTP (README: Chat API): Korean and English, substring and
// case-insensitive, newest first with a seq cursor, deleted messages left out, members only;
// on a large room through the trigram index.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessages } from '../gateway/sql/insert-messages';
import { searchMessages } from '../gateway/api/sql/search';
import { newUser } from './support/fixtures';
import { apiCaller } from './support/http-api';
import { plansOf } from './support/plans';
import { startSystem, type TestSystem } from './support/system';

const KEY = 'search-test-key';

describe('user API: message search', () => {
  let system: TestSystem;
  let server: ReturnType<typeof apiCaller>;
  const createRoom = async (members: string[]) => {
    const reply = await server('POST', '/v1/rooms', { name: 'search', members: members.map((user_id) => ({ user_id })) });
    expect(reply.status).toBe(201);
    return reply.body.room.id as string;
  };
  const store = async (roomId: string, userId: string, texts: string[]) => {
    for (let n = 0; n < texts.length; n += 500) {
      const batch = texts.slice(n, n + 500).map((text) => ({ roomId, userId, content: { text }, extra: {} }));
      await insertMessages(system.sql, batch, { fastPathOwner: null, fastLockSeconds: 5, notify: false });
    }
  };
  const texts = (page: any): string[] => page.messages.map((m: any) => m.content.text);

  beforeAll(async () => {
    system = await startSystem({ SERVER_API_KEYS: KEY, API_RL_CAPACITY: '100000' }, { worker: false });
    server = apiCaller(system.port, KEY);
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('finds Korean and English text anywhere in a message, case-insensitive, newest first, deleted ones left out', async () => {
    const alice = newUser();
    const roomId = await createRoom([alice]);
    await store(roomId, alice, [
      '안녕하세요 여러분',
      '오늘 회의는 세시에 합니다',
      'Hello World',
      '회의록을 공유했어요',
      'say HELLO again',
      '점심 뭐 먹을까요',
      '100% sure_thing',
      '회의실 예약',
    ]);
    const me = apiCaller(system.port, alice);
    const search = async (q: string, extra = '') => (await me('GET', `/v1/rooms/${roomId}/messages/search?q=${encodeURIComponent(q)}${extra}`)).body;

    expect(texts(await search('회의'))).toEqual(['회의실 예약', '회의록을 공유했어요', '오늘 회의는 세시에 합니다']);
    expect(texts(await search('하세'))).toEqual(['안녕하세요 여러분']); // inside a word: no spaces needed
    expect(texts(await search('hello'))).toEqual(['say HELLO again', 'Hello World']);
    expect(texts(await search('  world '))).toEqual(['Hello World']);
    // Wildcards in the query are plain characters.
    expect(texts(await search('0%'))).toEqual(['100% sure_thing']);
    expect(texts(await search('e_t'))).toEqual(['100% sure_thing']);
    expect(texts(await search('%'))).toEqual(['100% sure_thing']);
    expect(texts(await search('없는말'))).toEqual([]);

    // Paging: newest first, continue before the last seq.
    const first = await search('회의', '&limit=2');
    expect(texts(first)).toEqual(['회의실 예약', '회의록을 공유했어요']);
    expect(first.has_more).toBe(true);
    const rest = await search('회의', `&limit=2&before_seq=${first.messages[1].seq}`);
    expect(texts(rest)).toEqual(['오늘 회의는 세시에 합니다']);
    expect(rest.has_more).toBe(false);

    await system.sql`UPDATE arcyou_chat_messages SET deleted_at = now() WHERE room_id = ${roomId} AND content->>'text' = '회의실 예약'`;
    expect(texts(await search('회의'))).toEqual(['회의록을 공유했어요', '오늘 회의는 세시에 합니다']);
  });

  it('searches only rooms the caller is an active member of; refuses a bad query with 400', async () => {
    const [alice, bob, mallory] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom([alice, bob]);
    const other = await createRoom([mallory]);
    await store(roomId, alice, ['secret plan']);
    await store(other, mallory, ['secret other']);
    const path = (room: string, q = 'secret') => `/v1/rooms/${room}/messages/search?q=${encodeURIComponent(q)}`;
    expect(texts((await apiCaller(system.port, bob)('GET', path(roomId))).body)).toEqual(['secret plan']);
    expect(await apiCaller(system.port, mallory)('GET', path(roomId))).toMatchObject({ status: 403, body: { error: 'Forbidden: not a member' } });
    expect((await server('DELETE', `/v1/rooms/${roomId}/members/${bob}`)).status).toBe(204);
    expect(await apiCaller(system.port, bob)('GET', path(roomId))).toMatchObject({ status: 403, body: { error: 'Forbidden: not a member' } });
    expect(texts((await server('GET', path(roomId))).body)).toEqual(['secret plan']);
    expect(await server('GET', path(newUser()))).toMatchObject({ status: 404, body: { error: 'not_found' } });
    for (const bad of [
      `/v1/rooms/${roomId}/messages/search`,
      path(roomId, '   '),
      path(roomId, 'x'.repeat(201)),
      `${path(roomId)}&limit=0`,
      `${path(roomId)}&limit=101`,
      `${path(roomId)}&before_seq=-1`,
      `/v1/rooms/not-a-uuid/messages/search?q=a`,
    ]) {
      expect(await server('GET', bad), bad).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    }
    expect(await apiCaller(system.port, 'nobody')('GET', path(roomId))).toMatchObject({ status: 401 });
  });

  it('uses the trigram index on a large room for a query of three characters or more, Korean as English', async () => {
    const alice = newUser();
    const roomId = await createRoom([alice]);
    const words = ['사과', '바나나', '포도', 'apple', 'banana', 'grape', '딸기', 'melon'];
    await store(
      roomId,
      alice,
      Array.from({ length: 20_000 }, (_, i) => `${words[i % words.length]} ${words[(i * 7) % words.length]} 번호 ${i}`).concat([
        '드문단어가 들어간 메시지',
        'a rareword here',
      ]),
    );
    // As autovacuum would have by then: a GIN index's size statistics come from VACUUM.
    await system.sql`VACUUM ANALYZE arcyou_chat_messages`;
    const found: string[][] = [];
    const plans = await plansOf(system.db.url, async (sql) => {
      found.push((await searchMessages(sql, roomId, '드문단어', null, 20)).messages.map((m) => (m.content as { text: string }).text));
      found.push((await searchMessages(sql, roomId, 'RAREWORD', null, 20)).messages.map((m) => (m.content as { text: string }).text));
    });
    expect(found).toEqual([['드문단어가 들어간 메시지'], ['a rareword here']]);
    const reads = plans.filter((p) => p.includes('FROM arcyou_chat_messages'));
    expect(reads).toHaveLength(2);
    for (const plan of reads) expect(plan, plan).toContain('arcyou_chat_messages_text_trgm_idx');
  });
});
