// What the SDK hands the application: messages and room events as the server sends them
// (see the README's WebSocket protocol).

export interface Message {
  id: number;
  seq: number;
  user_id: string;
  type: 'text' | 'image' | 'file' | 'system';
  reply_to_message_id: number | null;
  content: Record<string, unknown>;
  created_at: string;
  updated_at?: string | null;
  temp_id?: string;
}

/** Where a delivered message came from: the join's backfill, live, or a history read that filled a hole. */
export type MessageSource = 'backfill' | 'live' | 'history';

export type DeliveredMessage = Message & { source: MessageSource };

/** A page of history (GET /v1/rooms/{room_id}/messages), oldest first. */
export interface HistoryPage {
  messages: Message[];
  has_more: boolean;
  from_seq: number | null;
  to_seq: number | null;
}

/** One entry of the user's room list (GET /v1/me/rooms). */
export interface MyRoom {
  room: { id: string; name: string; description: string | null; last_seq: number; created_at: string; updated_at: string | null };
  role: 'owner' | 'manager' | 'participant';
  last_read_message_id: number | null;
  unread_count: number;
  last_message: Message | null;
}

/** A send as the server stored it. */
export interface SentMessage {
  id: number;
  seq: number;
  tempId: string;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface RoomEvents {
  /** Each message once, in seq order, with no gap (backfill, live, or read from history). */
  message: DeliveredMessage;
  /** A join (also each re-join after a reconnect) was accepted. */
  joined: { last_seq: number; has_more: boolean };
  /** An edit (message.updated). */
  update: Message;
  /** message.deleted. */
  delete: { message_id: number; message_seq: number | null };
  typing: { user_id: string };
  /** member.read: a member's read position moved. */
  read: { user_id: string; last_read_message_id: number };
  /** member.added, member.updated, member.removed, room.updated. */
  change: { type: string; data: Record<string, unknown> };
  /** This user's membership ended: the room delivers nothing more until join() again. */
  removed: { membership_id: number | null };
  /** The join was refused (e.g. `Forbidden: not a member`). */
  error: ChatError;
}

export interface ClientEvents {
  state: ConnectionState;
  /** Something went wrong that the client handles by itself (a refused token, a failed history read). */
  error: ChatError;
}

/** An error reply of the server, by its stable `error` string (README: WebSocket protocol). */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    readonly detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'ChatError';
  }
}
