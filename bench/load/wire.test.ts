import { describe, expect, it } from 'vitest';
import { serializeMessageEvent } from '../../shared/protocol/events';
import { readStamp } from './wire';

const ROOM = '3f2b8c1e-4d5a-4e6f-9a7b-8c9d0e1f2a3b';

describe('readStamp', () => {
  it('reads the stamp of one of our live events', () => {
    const frame = serializeMessageEvent(
      ROOM,
      { id: 7, seq: 7, user_id: ROOM, content: { t: 1795449540055.125, w: 3, s: 9 }, created_at: '2026-01-01T00:00:00Z' },
      'live',
    );
    expect(readStamp(frame)).toMatchObject({ t: 1795449540055.125, w: 3 });
  });

  it('reads it whatever order JSONB gave the keys', () => {
    const frame = serializeMessageEvent(
      ROOM,
      { id: 7, seq: 7, user_id: ROOM, content: { s: 9, t: 1795449540055, w: 12 }, created_at: '2026-01-01T00:00:00Z' },
      'live',
    );
    expect(readStamp(frame)).toMatchObject({ t: 1795449540055, w: 12 });
  });

  it('reads a Socket.IO event packet', () => {
    const packet = `42${JSON.stringify(['event', { op: 'event', type: 'message.created', roomId: ROOM, message: { id: 1, content: { t: 12.5, w: 4, s: 0 } }, timestamp: 'x', source: 'live' }])}`;
    expect(readStamp(packet)).toMatchObject({ t: 12.5, w: 4 });
  });

  it('finds no stamp in replies', () => {
    expect(readStamp('{"op":"send","success":true,"message_id":5,"temp_id":"t1"}')).toBeNull();
    expect(readStamp('431[{"success":true,"message_id":5}]')).toBeNull();
  });
});
