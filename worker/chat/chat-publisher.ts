// The chat worker's processor: every claimed row becomes one serialised room event on
// the bus, published in id order in one call.
import type { RoomBus, RoomEvent } from '../../shared/bus/room-bus';
import { DOCUMENT_JOB_PREFIX } from '../../shared/outbox/document-preprocess';
import { roomEventFrame, serializeMessageEvent, type ChatMessage } from '../../shared/protocol/events';
import type { RowOutcome } from '../outbox/loop';
import type { OutboxRow } from '../outbox/sql/claim';

/** The chat worker leaves document jobs to the document worker. */
export const CHAT_EXCLUDED_PREFIX = DOCUMENT_JOB_PREFIX;

/** The live event a row becomes, or why it cannot become one. */
export function eventForRow(row: OutboxRow): { frame: string } | { invalid: string } {
  if (!row.room_id) return { invalid: 'row has no room_id' };
  if (row.type === 'message.created') {
    const message = row.payload as Partial<ChatMessage> | null;
    if (!message || typeof message.id !== 'number' || typeof message.user_id !== 'string') {
      return { invalid: 'message.created payload lacks message id or user_id' };
    }
    return { frame: serializeMessageEvent(row.room_id, message as ChatMessage, 'live') };
  }
  // Room events written under the room lock carry their place in the room (`seq`): it
  // goes to the top of the event, where gateways order by it; the row id goes with it
  // (`event_id`), so that a gateway that also reads the event back can tell the copy.
  return { frame: roomEventFrame(row.type, row.room_id, row.id, row.payload) };
}

export function createChatPublisher(bus: RoomBus) {
  return async (rows: OutboxRow[]): Promise<RowOutcome[]> => {
    const outcomes: RowOutcome[] = rows.map(() => null);
    const events: RoomEvent[] = [];
    const indexes: number[] = [];
    rows.forEach((row, i) => {
      const event = eventForRow(row);
      if ('invalid' in event) {
        outcomes[i] = { error: event.invalid, dead: true };
        return;
      }
      events.push({ roomId: row.room_id!, frame: event.frame });
      indexes.push(i);
    });
    const results = await bus.publish(events);
    results.forEach((err, k) => {
      if (err) outcomes[indexes[k]!] = { error: `publish failed: ${err.message}`, cause: err };
    });
    return outcomes;
  };
}
