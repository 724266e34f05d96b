// Room events from the bus → native uWS topics. Each event arrives serialised once and
// is handed to app.publish as-is: uWS loops over the room's sockets in C++.
//
// Joins need one more thing: events that arrive while a join is loading its backfill
// are kept for that room, so the joining socket gets them after the backfill and none
// is lost or doubled between the backfill query and the topic subscription.
import type { Bus } from '../shared/bus/bus';
import { channelFor, GLOBAL_CHANNEL, type PubsubMode } from '../shared/bus/channels';
import type { Logger } from '../shared/logger';
import { routeOf } from '../shared/protocol/events';

export interface JoinTicket {
  /** Events held for this join with a message id above `afterId` (or none), in arrival order. Ends the hold. */
  finish(afterId: number): string[];
}

export interface Fanout {
  start(): Promise<void>;
  /** One more socket is joining the room: make sure its events reach this process, and hold them. */
  beginJoin(roomId: string): Promise<JoinTicket>;
  /** One socket left the room (or its join failed). */
  release(roomId: string): void;
  roomsWithMembers(): number;
}

interface Hold {
  joins: number;
  events: { id: number | null; frame: string }[];
}

const MAX_HELD_EVENTS = 10_000;

export function createFanout(bus: Bus, mode: PubsubMode, publish: (topic: string, frame: string) => void, logger: Logger): Fanout {
  const members = new Map<string, number>();
  const subscriptions = new Map<string, Promise<void>>();
  const holds = new Map<string, Hold>();

  bus.onMessage((_channel, frame) => {
    const route = routeOf(frame);
    if (!route) {
      logger.warn('dropping malformed event from the bus');
      return;
    }
    publish(route.roomId, frame);
    const hold = holds.get(route.roomId);
    if (hold && hold.events.length < MAX_HELD_EVENTS) hold.events.push({ id: route.messageId, frame });
  });

  const subscribeRoom = (roomId: string): Promise<void> => {
    let subscription = subscriptions.get(roomId);
    if (!subscription) {
      subscription = bus.subscribe(channelFor(mode, roomId));
      subscription.catch(() => subscriptions.delete(roomId));
      subscriptions.set(roomId, subscription);
    }
    return subscription;
  };

  const release = (roomId: string) => {
    const count = (members.get(roomId) ?? 0) - 1;
    if (count > 0) {
      members.set(roomId, count);
      return;
    }
    members.delete(roomId);
    if (mode === 'perconv' && subscriptions.delete(roomId)) {
      bus.unsubscribe(channelFor(mode, roomId)).catch((err: Error) => logger.warn({ roomId, err: err.message }, 'unsubscribe failed'));
    }
  };

  return {
    async start() {
      if (mode === 'global') await bus.subscribe(GLOBAL_CHANNEL);
    },
    async beginJoin(roomId) {
      members.set(roomId, (members.get(roomId) ?? 0) + 1);
      const hold = holds.get(roomId) ?? { joins: 0, events: [] };
      hold.joins += 1;
      holds.set(roomId, hold);
      const endHold = () => {
        hold.joins -= 1;
        if (hold.joins === 0) holds.delete(roomId);
      };
      try {
        if (mode === 'perconv') await subscribeRoom(roomId);
      } catch (err) {
        endHold();
        release(roomId);
        throw err;
      }
      return {
        finish(afterId) {
          const frames = hold.events.filter((e) => e.id === null || e.id > afterId).map((e) => e.frame);
          endHold();
          return frames;
        },
      };
    },
    release,
    roomsWithMembers: () => members.size,
  };
}
