// Server → client room events (seed 002 §5). An event is serialised once, by the
// worker for live delivery or by the gateway for backfill, and sent as-is.

export interface ChatMessage {
  id: number;
  user_id: string;
  content: unknown;
  created_at: string;
  temp_id?: string | number;
}

export type EventSource = 'live' | 'backfill';

export function serializeMessageEvent(roomId: string, message: ChatMessage, source: EventSource, timestamp = new Date().toISOString()): string {
  return JSON.stringify({ op: 'event', type: 'message.created', roomId, message, timestamp, source });
}

/** Any other room event type (e.g. `room.updated`) carries its outbox payload as `data`. */
export function serializeRoomEvent(type: string, roomId: string, data: unknown, timestamp = new Date().toISOString()): string {
  return JSON.stringify({ op: 'event', type, roomId, data, timestamp, source: 'live' });
}

/** What a gateway needs to know about an event it did not serialise: where it goes, its message id if any, and when it was published (for the delivery-latency metric). */
export interface EventRoute {
  roomId: string;
  type: string;
  messageId: number | null;
  /** The event's `timestamp` in ms since the epoch, or null if it has none. */
  publishedAtMs: number | null;
  /** `data.user_id` of membership events (e.g. member.removed), else null. */
  userId: string | null;
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

export function routeOf(frame: string): EventRoute | null {
  try {
    const event = JSON.parse(frame) as { roomId?: unknown; type?: unknown; message?: { id?: unknown }; timestamp?: unknown; data?: { user_id?: unknown } };
    if (typeof event.roomId !== 'string' || typeof event.type !== 'string') return null;
    const id = event.message?.id;
    const publishedAtMs = typeof event.timestamp === 'string' ? Date.parse(event.timestamp) : NaN;
    const userId = event.data?.user_id;
    return {
      roomId: event.roomId,
      type: event.type,
      messageId: typeof id === 'number' ? id : null,
      publishedAtMs: Number.isNaN(publishedAtMs) ? null : publishedAtMs,
      userId: typeof userId === 'string' ? userId : null,
    };
  } catch {
    return null;
  }
}
