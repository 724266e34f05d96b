import type { ChatMessage } from '../../shared/protocol/events';

/** One place of a room read back from PostgreSQL: the message, or null where it was deleted. */
export interface StoredPlace {
  seq: number;
  message: ChatMessage | null;
}
