import { describe, expect, it } from 'vitest';
import { MAX_CONTENT_DEPTH, parseFrame, peekFrame } from './frames';

const ROOM = '3f0e6a52-6a1b-4c52-9d7e-0d6f2b1a9c11';

describe('parseFrame', () => {
  it('parses each op into a typed request', () => {
    expect(parseFrame(JSON.stringify({ op: 'auth', token: 't' }))).toMatchObject({ ok: true, request: { op: 'auth', token: 't' } });
    expect(parseFrame(JSON.stringify({ op: 'join', room_id: ROOM }))).toMatchObject({ ok: true, request: { op: 'join', roomId: ROOM } });
    expect(parseFrame(JSON.stringify({ op: 'send', room_id: ROOM, content: { text: 'x' }, temp_id: 'a' }))).toEqual({
      ok: true,
      request: { op: 'send', roomId: ROOM, content: { text: 'x' }, type: 'text', replyTo: null },
      ids: { temp_id: 'a' },
    });
    expect(
      parseFrame(JSON.stringify({ op: 'send', room_id: ROOM, content: { url: 'https://x.example/a.pdf' }, type: 'file', reply_to_message_id: '7' })),
    ).toMatchObject({
      ok: true,
      request: { op: 'send', type: 'file', replyTo: 7 },
    });
    expect(parseFrame(JSON.stringify({ op: 'edit', room_id: ROOM, message_id: 3, content: { text: 'y' } }))).toMatchObject({
      ok: true,
      request: { op: 'edit', messageId: 3, content: { text: 'y' } },
    });
    expect(parseFrame(JSON.stringify({ op: 'delete', room_id: ROOM, message_id: 3 }))).toMatchObject({ ok: true, request: { op: 'delete', messageId: 3 } });
    expect(parseFrame(JSON.stringify({ op: 'typing', room_id: ROOM }))).toMatchObject({ ok: true, request: { op: 'typing', roomId: ROOM } });
    expect(parseFrame(JSON.stringify({ op: 'ack', room_id: ROOM, last_read_message_id: 42 }))).toMatchObject({
      ok: true,
      request: { op: 'ack', lastReadMessageId: 42 },
    });
  });

  it('accepts the aliases conversation_id and body, and a numeric string message id', () => {
    expect(parseFrame(JSON.stringify({ op: 'send', conversation_id: ROOM, body: { text: 'x' } }))).toMatchObject({
      ok: true,
      request: { roomId: ROOM, content: { text: 'x' } },
    });
    expect(parseFrame(JSON.stringify({ op: 'ack', conversation_id: ROOM, last_read_message_id: '17' }))).toMatchObject({
      ok: true,
      request: { lastReadMessageId: 17 },
    });
  });

  it.each([
    ['{not json', 'invalid_json'],
    ['[]', 'invalid_request'],
    ['"text"', 'invalid_request'],
    ['null', 'invalid_request'],
    [JSON.stringify({ op: 'explode' }), 'unknown_op'],
    [JSON.stringify({ op: 42 }), 'unknown_op'],
    [JSON.stringify({ op: '__proto__' }), 'unknown_op'],
    [JSON.stringify({ op: 'toString' }), 'unknown_op'],
    [JSON.stringify({ op: 'join' }), 'room_id required'],
    [JSON.stringify({ op: 'join', room_id: 'not-a-uuid' }), 'invalid_request'],
    [JSON.stringify({ op: 'join', room_id: 7 }), 'invalid_request'],
    [JSON.stringify({ op: 'auth' }), 'invalid_request'],
    [JSON.stringify({ op: 'auth', token: 5 }), 'invalid_request'],
    [JSON.stringify({ op: 'send', room_id: ROOM }), 'invalid_request'],
    [JSON.stringify({ op: 'send', room_id: ROOM, content: 'text' }), 'invalid_request'],
    [JSON.stringify({ op: 'send', room_id: ROOM, content: [1] }), 'invalid_request'],
    [JSON.stringify({ op: 'ack', room_id: ROOM, last_read_message_id: -1 }), 'invalid_request'],
    [JSON.stringify({ op: 'ack', room_id: ROOM, last_read_message_id: 1.5 }), 'invalid_request'],
    [JSON.stringify({ op: 'ack', room_id: ROOM, last_read_message_id: 1e300 }), 'invalid_request'],
    [JSON.stringify({ op: 'ack', room_id: ROOM }), 'invalid_request'],
  ])('refuses %s with %s', (text, error) => {
    const parsed = parseFrame(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toBe(error);
  });

  it('names the bad field in the detail', () => {
    const parsed = parseFrame(JSON.stringify({ op: 'join', room_id: 'nope' }));
    expect(parsed).toMatchObject({ ok: false, op: 'join', detail: 'room_id must be a UUID' });
  });

  it('echoes well-formed request ids even on errors', () => {
    expect(parseFrame(JSON.stringify({ op: 'join', temp_id: 'x1', request_id: 9 }))).toMatchObject({ ok: false, ids: { temp_id: 'x1', request_id: 9 } });
  });

  it('refuses content nested deeper than the limit', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < MAX_CONTENT_DEPTH + 1; i++) deep = { child: deep };
    expect(parseFrame(JSON.stringify({ op: 'send', room_id: ROOM, content: deep }))).toMatchObject({ ok: false, error: 'invalid_request' });
    let shallow: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < MAX_CONTENT_DEPTH - 2; i++) shallow = { child: shallow };
    expect(parseFrame(JSON.stringify({ op: 'send', room_id: ROOM, content: shallow })).ok).toBe(true);
  });

  it('refuses text PostgreSQL jsonb cannot store (U+0000, unpaired surrogates) in content and temp_id', () => {
    for (const text of ['{"a":"x\\u0000"}', '{"a":"\\ud800"}', '{"a":"\\udc00\\ud800"}', '{"\\u0000":1}', '{"a":["\\udfff"]}']) {
      expect(parseFrame(`{"op":"send","room_id":"${ROOM}","content":${text}}`)).toMatchObject({ ok: false, error: 'invalid_request' });
    }
    expect(parseFrame(`{"op":"send","room_id":"${ROOM}","content":{"a":1},"temp_id":"\\ud800"}`)).toMatchObject({ ok: false, error: 'invalid_request' });
    expect(parseFrame(`{"op":"send","room_id":"${ROOM}","content":{"a":"\\ud83d\\ude00 \\u0001"},"temp_id":"\\ud83d\\ude00"}`).ok).toBe(true);
  });

  it('lower-cases room ids, as PostgreSQL prints them', () => {
    expect(parseFrame(JSON.stringify({ op: 'join', room_id: ROOM.toUpperCase() }))).toMatchObject({ ok: true, request: { roomId: ROOM } });
  });

  it('refuses room_id and conversation_id naming different rooms, accepts them naming the same one', () => {
    const other = '9b2d7c1e-0f3a-4e5b-8c6d-7e8f9a0b1c2d';
    expect(parseFrame(JSON.stringify({ op: 'send', room_id: ROOM, conversation_id: other, content: {} }))).toMatchObject({
      ok: false,
      error: 'invalid_request',
    });
    expect(parseFrame(JSON.stringify({ op: 'join', room_id: ROOM, conversation_id: ROOM.toUpperCase() }))).toMatchObject({
      ok: true,
      request: { roomId: ROOM },
    });
  });

  it('survives extremely deep JSON without throwing', () => {
    const text = `{"op":"send","room_id":"${ROOM}","content":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`;
    expect(() => parseFrame(text)).not.toThrow();
    expect(parseFrame(text).ok).toBe(false);
  });
});

describe('peekFrame', () => {
  it('finds the op and request ids without validating the rest', () => {
    expect(peekFrame(JSON.stringify({ op: 'send', room_id: 'not-a-uuid', temp_id: 't', request_id: 3 }))).toEqual({
      op: 'send',
      ids: { temp_id: 't', request_id: 3 },
    });
  });

  it('says error for anything it cannot read', () => {
    expect(peekFrame('{oops')).toEqual({ op: 'error', ids: {} });
    expect(peekFrame('[1]')).toEqual({ op: 'error', ids: {} });
    expect(peekFrame(JSON.stringify({ op: 'drop_tables' }))).toEqual({ op: 'error', ids: {} });
  });
});
