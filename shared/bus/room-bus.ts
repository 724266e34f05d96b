// The bus addressed by room, as gateways and workers use it: they publish a room's events
// and say which rooms they want; how rooms map to channels (PUBSUB_MODE) is this module's
// setting, not theirs. `global`: every room on one channel, which a gateway subscribes once
// (start) and then hears every room; `perconv`: a channel per room (`conv:<room id>`),
// subscribed while the gateway has a member of it. Channel names: ./channels.ts.
import type { Bus } from './bus';
import { channelFor, GLOBAL_CHANNEL, roomChannel, type PubsubMode } from './channels';

export type { PubsubMode };

export interface RoomEvent {
  roomId: string;
  /** The serialised event, as it goes to the room's sockets. */
  frame: string;
}

export interface RoomBus {
  readonly mode: PubsubMode;
  /** Publishes, each room's events in order; resolves to one result per event: null, or the error it met. */
  publish(events: readonly RoomEvent[]): Promise<Array<Error | null>>;
  /** Starts listening: in global mode subscribes the one channel (every room is heard from then on); nothing in perconv. */
  start(): Promise<void>;
  /** Resolves once the room's events are being delivered here (global mode: since start()). */
  subscribeRoom(roomId: string): Promise<void>;
  /** The room's events stop coming (global mode: nothing changes, they keep coming with every other room's). */
  unsubscribeRoom(roomId: string): Promise<void>;
  /** Every event heard, serialised; in global mode, of every room. */
  onEvent(handler: (frame: string) => void): void;
  /** The bus lost its connection and got it back: events may have been missed. */
  onReconnect(handler: () => void): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function createRoomBus(bus: Bus, mode: PubsubMode): RoomBus {
  return {
    mode,
    publish: (events) => bus.publish(events.map(({ roomId, frame }) => ({ channel: channelFor(mode, roomId), message: frame }))),
    start: async () => {
      if (mode === 'global') await bus.subscribe(GLOBAL_CHANNEL);
    },
    subscribeRoom: async (roomId) => {
      if (mode === 'perconv') await bus.subscribe(roomChannel(roomId));
    },
    unsubscribeRoom: async (roomId) => {
      if (mode === 'perconv') await bus.unsubscribe(roomChannel(roomId));
    },
    onEvent: (handler) => bus.onMessage((_channel, frame) => handler(frame)),
    onReconnect: (handler) => bus.onReconnect(handler),
    ping: () => bus.ping(),
    close: () => bus.close(),
  };
}
