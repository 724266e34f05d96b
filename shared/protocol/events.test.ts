import { describe, expect, it } from 'vitest';
import { messageIdOf, messageRoute, roomEventFrame, roomIdOf, routeOf, serializeGapEvent, serializeMessageEvent, serializeRoomEvent } from './events';

const ROOM = '3f0e6a52-6a1b-4c52-9d7e-0d6f2b1a9c11';
const message = { id: 42, seq: 7, user_id: '9a6f2c2e-8a8d-4c1e-b1a8-2f0f7a9d6b10', content: { text: 'hi' }, created_at: '2026-11-23T10:00:00.000Z' };

describe('event serialisation', () => {
  it('writes other room events with their place in the room, and gap notices', () => {
    expect(JSON.parse(serializeRoomEvent('member.removed', ROOM, { user_id: 'u1' }, 5, 'T'))).toEqual({
      op: 'event',
      type: 'member.removed',
      roomId: ROOM,
      seq: 5,
      data: { user_id: 'u1' },
      timestamp: 'T',
      source: 'live',
    });
    expect(JSON.parse(serializeRoomEvent('room.updated', ROOM, {}, null, 'T'))).not.toHaveProperty('seq');
    expect(JSON.parse(serializeGapEvent(ROOM, 4, 9, 'T'))).toEqual({
      op: 'event',
      type: 'gap',
      roomId: ROOM,
      from_seq: 4,
      to_seq: 9,
      timestamp: 'T',
      source: 'live',
    });
  });

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

  it('routes an event by room, message id, seq, type, timestamp and member', () => {
    expect(routeOf(serializeMessageEvent(ROOM, message, 'live', '2026-11-23T10:00:01.000Z'))).toEqual({
      roomId: ROOM,
      type: 'message.created',
      messageId: 42,
      seq: 7,
      publishedAtMs: Date.parse('2026-11-23T10:00:01.000Z'),
      userId: null,
      membershipId: null,
      eventId: null,
    });
    // A room event written through the outbox names its row: a copy read back is told apart.
    expect(routeOf(roomEventFrame('message.updated', ROOM, 77, { message: { id: 42 }, seq: 8 }))).toMatchObject({
      type: 'message.updated',
      seq: 8,
      eventId: 77,
    });
    expect(JSON.parse(roomEventFrame('message.updated', ROOM, 77, { message: { id: 42 }, seq: 8 }))).toMatchObject({
      seq: 8,
      event_id: 77,
      data: { message: { id: 42 } },
    });
    expect(routeOf(serializeRoomEvent('member.removed', ROOM, { user_id: 'u1', membership_id: 9 }, 12))).toMatchObject({
      type: 'member.removed',
      messageId: null,
      seq: 12,
      userId: 'u1',
      membershipId: 9,
    });
    expect(routeOf(serializeRoomEvent('room.updated', ROOM, { name: 'x' }, null))).toMatchObject({ seq: null, membershipId: null });
    // A seq that is not a non-negative safe integer is no seq at all.
    expect(routeOf(serializeMessageEvent(ROOM, { ...message, seq: -1 }, 'live'))).toMatchObject({ seq: null });
    expect(routeOf('{"op":"event","type":"message.created","roomId":"r","message":{"id":1,"seq":"3"}}')).toMatchObject({ seq: null });
    expect(routeOf('{"no":"room"}')).toBeNull();
    expect(routeOf('not json')).toBeNull();
  });

  it('finds the room of a serialised event without parsing it', () => {
    expect(roomIdOf(serializeMessageEvent(ROOM, message, 'backfill'))).toBe(ROOM);
    expect(roomIdOf(serializeRoomEvent('room.updated', ROOM, { roomId: 'other' }, 3))).toBe(ROOM);
    expect(roomIdOf('{"op":"ping","token":"x"}')).toBeNull();
    // A "roomId" deep inside user content is not mistaken for the event's room.
    expect(roomIdOf(`{"op":"event","type":"${'x'.repeat(80)}","roomId":"${ROOM}"}`)).toBeNull();
  });

  it('builds the route of a message event it serialises as routeOf reads it back', () => {
    const at = '2026-11-23T10:00:01.000Z';
    for (const m of [message, { ...message, seq: -1 }, { ...message, temp_id: 't-1', reply_to_message_id: 3, type: 'text' }])
      expect(messageRoute(ROOM, m, at)).toEqual(routeOf(serializeMessageEvent(ROOM, m, 'live', at)));
    expect(messageRoute(ROOM, message, 'not a time').publishedAtMs).toBeNull();
  });

  it('reads the message id at the head of a message event, and nothing from any other frame', () => {
    for (const id of [0, 7, 42, 2 ** 53 - 1]) {
      const frame = serializeMessageEvent(ROOM, { ...message, id }, 'live');
      expect(messageIdOf(frame)).toBe(id);
      expect(messageIdOf(frame)).toBe(routeOf(frame)!.messageId);
    }
    const notAnId = [
      // id not the message's first key: left to routeOf
      serializeMessageEvent(ROOM, { seq: 7, id: 42 } as never, 'live'),
      serializeMessageEvent(ROOM, { id: '42' } as never, 'live'),
      serializeMessageEvent(ROOM, { id: 1.5 } as never, 'live'),
      serializeMessageEvent(ROOM, { id: 2 ** 60 } as never, 'live'),
      '{"op":"event","type":"message.created","roomId":"r","message":{"id":}',
      '{"op":"event","type":"message.created","roomId":"r","message":{"id":12',
      // other events, even when their data looks like a message
      roomEventFrame('message.updated', ROOM, 77, { message: { id: 42 }, seq: 8 }),
      serializeRoomEvent('member.removed', ROOM, { text: '","message":{"id":5,' }, 3),
      serializeGapEvent(ROOM, 1, 2),
      'not json',
      '',
    ];
    for (const frame of notAnId) expect(messageIdOf(frame), frame).toBeNull();
  });
});
