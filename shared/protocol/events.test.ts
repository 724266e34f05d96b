import { describe, expect, it } from 'vitest';
import { roomIdOf, routeOf, serializeMessageEvent, serializeRoomEvent } from './events';

const ROOM = '3f0e6a52-6a1b-4c52-9d7e-0d6f2b1a9c11';
const message = { id: 42, user_id: '9a6f2c2e-8a8d-4c1e-b1a8-2f0f7a9d6b10', content: { text: 'hi' }, created_at: '2026-11-23T10:00:00.000Z' };

describe('event serialisation', () => {
  it('writes message.created exactly in the wire shape of the protocol', () => {
    expect(JSON.parse(serializeMessageEvent(ROOM, message, 'live', '2026-11-23T10:00:01.000Z'))).toEqual({
      op: 'event',
      type: 'message.created',
      roomId: ROOM,
      message,
      timestamp: '2026-11-23T10:00:01.000Z',
      source: 'live',
    });
  });

  it('routes an event by room, message id, type, timestamp and member', () => {
    expect(routeOf(serializeMessageEvent(ROOM, message, 'live', '2026-11-23T10:00:01.000Z'))).toEqual({
      roomId: ROOM,
      type: 'message.created',
      messageId: 42,
      publishedAtMs: Date.parse('2026-11-23T10:00:01.000Z'),
      userId: null,
    });
    expect(routeOf(serializeRoomEvent('member.removed', ROOM, { user_id: 'u1' }))).toMatchObject({ type: 'member.removed', messageId: null, userId: 'u1' });
    expect(routeOf('{"no":"room"}')).toBeNull();
    expect(routeOf('not json')).toBeNull();
  });

  it('finds the room of a serialised event without parsing it', () => {
    expect(roomIdOf(serializeMessageEvent(ROOM, message, 'backfill'))).toBe(ROOM);
    expect(roomIdOf(serializeRoomEvent('room.updated', ROOM, { roomId: 'other' }))).toBe(ROOM);
    expect(roomIdOf('{"op":"barrier","token":"x"}')).toBeNull();
    // A "roomId" deep inside user content is not mistaken for the event's room.
    expect(roomIdOf(`{"op":"event","type":"${'x'.repeat(80)}","roomId":"${ROOM}"}`)).toBeNull();
  });
});
