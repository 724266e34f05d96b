// Server → client room events (README: WebSocket protocol, and docs/delivery.md for seq). An event is
// serialised once, by the worker for live delivery or by the gateway for backfill and
// gap reads, and sent as-is.

export interface ChatMessage {
  id: number;
  /** Position in its room: 1, 2, 3, … */
  seq: number;
  user_id: string;
  /** text, image, file or system (written by the application's backend). Absent in events of older gateways. */
  type?: string;
  /** The message of the room this one answers, or null. */
  reply_to_message_id?: number | null;
  content: unknown;
  created_at: string;
  temp_id?: string | number;
}

export type EventSource = 'live' | 'backfill';

export function serializeMessageEvent(roomId: string, message: ChatMessage, source: EventSource, timestamp = new Date().toISOString()): string {
  return JSON.stringify({ op: 'event', type: 'message.created', roomId, message, timestamp, source });
}

/**
 * Any other room event (e.g. `member.removed`) carries its outbox payload as `data`, and
 * `seq`: the room's last seq when it happened (it comes after that message), if known.
 */
/**
 * A room event. `eventId`: the outbox row it was written as, when it was (the same event
 * read back from PostgreSQL after a bus drop carries it too, so a copy is told apart).
 */
export function serializeRoomEvent(
  type: string,
  roomId: string,
  data: unknown,
  seq: number | null,
  timestamp = new Date().toISOString(),
  eventId: number | null = null,
): string {
  return JSON.stringify({
    op: 'event',
    type,
    roomId,
    ...(seq === null ? {} : { seq }),
    ...(eventId === null ? {} : { event_id: eventId }),
    data,
    timestamp,
    source: 'live',
  });
}

/** A room event from its outbox row (its payload: the event's data, and its place `seq` when it has one). */
export function roomEventFrame(type: string, roomId: string, rowId: number, payload: unknown): string {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload) && 'seq' in payload) {
    const { seq, ...data } = payload as { seq: unknown };
    return serializeRoomEvent(type, roomId, data, Number.isSafeInteger(seq) ? (seq as number) : null, undefined, rowId);
  }
  return serializeRoomEvent(type, roomId, payload, null, undefined, rowId);
}

/** Messages `fromSeq`…`toSeq` of the room could not be delivered: the client reads them from history. */
export function serializeGapEvent(roomId: string, fromSeq: number, toSeq: number, timestamp = new Date().toISOString()): string {
  return JSON.stringify({ op: 'event', type: 'gap', roomId, from_seq: fromSeq, to_seq: toSeq, timestamp, source: 'live' });
}

/** What a gateway needs to know about an event it did not serialise: where it goes, its place in the room, and when it was published (for the delivery-latency metric). */
export interface EventRoute {
  roomId: string;
  type: string;
  messageId: number | null;
  /** message.created: the message's seq; other events: the room's seq when they happened; null if the event has none. */
  seq: number | null;
  /** The event's `timestamp` in ms since the epoch, or null if it has none. */
  publishedAtMs: number | null;
  /** `data.user_id` of membership events (e.g. member.removed), else null. */
  userId: string | null;
  /** `data.membership_id` of membership events, else null. */
  membershipId: number | null;
  /** `event_id` of room events written through the outbox (its row id), else null. */
  eventId: number | null;
}

const ROOM_ID_KEY = '"roomId":"';

/**
 * The room of a serialised event without parsing it (null if not found where our
 * serialisers put it), so a gateway can skip events of rooms it has no members of.
 */
export function roomIdOf(frame: string): string | null {
  const start = frame.indexOf(ROOM_ID_KEY);
  if (start < 0 || start > 64) return null;
  const end = frame.indexOf('"', start + ROOM_ID_KEY.length);
  return end < 0 ? null : frame.slice(start + ROOM_ID_KEY.length, end);
}

const position = (value: unknown) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : null);

const MESSAGE_CREATED_HEAD = '{"op":"event","type":"message.created","roomId":"';
const MESSAGE_ID_KEY = '","message":{"id":';

/**
 * The message id of a message.created event laid out as serializeMessageEvent lays out one
 * whose message has `id` as its first key (PostgreSQL's jsonb puts the shortest keys first),
 * read without parsing the frame; null for any other frame (routeOf then tells).
 */
export function messageIdOf(frame: string): number | null {
  if (!frame.startsWith(MESSAGE_CREATED_HEAD)) return null;
  const roomEnd = frame.indexOf('"', MESSAGE_CREATED_HEAD.length);
  if (roomEnd < 0 || !frame.startsWith(MESSAGE_ID_KEY, roomEnd)) return null;
  const start = roomEnd + MESSAGE_ID_KEY.length;
  let end = start;
  let id = 0;
  for (let digit = frame.charCodeAt(end) - 48; digit >= 0 && digit <= 9; digit = frame.charCodeAt(++end) - 48) id = id * 10 + digit;
  if (end === start || end - start > 16 || (frame[end] !== ',' && frame[end] !== '}') || !Number.isSafeInteger(id)) return null;
  return id;
}

/** The route of a message.created event made by serializeMessageEvent from these arguments: what routeOf reads back from it. */
export function messageRoute(roomId: string, message: ChatMessage, timestamp: string): EventRoute {
  const publishedAtMs = Date.parse(timestamp);
  return {
    roomId,
    type: 'message.created',
    messageId: message.id,
    seq: position(message.seq),
    publishedAtMs: Number.isNaN(publishedAtMs) ? null : publishedAtMs,
    userId: null,
    membershipId: null,
    eventId: null,
  };
}

export function routeOf(frame: string): EventRoute | null {
  try {
    const event = JSON.parse(frame) as {
      roomId?: unknown;
      type?: unknown;
      seq?: unknown;
      event_id?: unknown;
      message?: { id?: unknown; seq?: unknown };
      timestamp?: unknown;
      data?: { user_id?: unknown; membership_id?: unknown };
    };
    if (typeof event.roomId !== 'string' || typeof event.type !== 'string') return null;
    const id = event.message?.id;
    const publishedAtMs = typeof event.timestamp === 'string' ? Date.parse(event.timestamp) : NaN;
    const userId = event.data?.user_id;
    return {
      roomId: event.roomId,
      type: event.type,
      messageId: typeof id === 'number' ? id : null,
      seq: position(event.type === 'message.created' ? event.message?.seq : event.seq),
      publishedAtMs: Number.isNaN(publishedAtMs) ? null : publishedAtMs,
      userId: typeof userId === 'string' ? userId : null,
      membershipId: position(event.data?.membership_id),
      eventId: position(event.event_id),
    };
  } catch {
    return null;
  }
}
