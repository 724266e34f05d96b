// Room events from the bus → native uWS topics. Each event arrives serialised once and
// is handed to app.publish as-is: uWS loops over the room's sockets in C++.
//
// A joining socket is the exception, for a moment. Its backfill comes from a database
// snapshot while live events keep flowing, so until it is safe to subscribe it natively
// it is a "joiner": events are held while the backfill loads, then sent to it one by one,
// skipping those the backfill already carried. It goes native once (a) a barrier it
// published through the bus has come back — so every event published before the
// snapshot has reached this process — and (b) the newest backfilled message that was
// still unpublished at the snapshot has come through live. A timeout ends the wait.
import { randomUUID } from 'node:crypto';
import type { Bus } from '../shared/bus/bus';
import { channelFor, GLOBAL_CHANNEL, type PubsubMode } from '../shared/bus/channels';
import type { Logger } from '../shared/logger';
import { routeOf, type EventRoute } from '../shared/protocol/events';
import { RecentIds } from './recent-ids';
import type { Socket } from './session';

export interface JoinTicket {
  /**
   * The backfill (messages up to `lastSent`) has been computed. Returns the held events
   * the socket still needs, to send right after the backfill; from here on live events
   * reach the socket. `unpublishedUpTo` = newest backfilled message not yet published.
   */
  ready(ws: Socket, lastSent: number, unpublishedUpTo: number | null): string[];
  /** The join failed: forget it. */
  cancel(): void;
}

export interface Fanout {
  start(): Promise<void>;
  /** One more socket is joining the room: make sure its events reach this process, and hold them. */
  beginJoin(roomId: string): Promise<JoinTicket>;
  /** One socket left the room (it closed). */
  release(roomId: string): void;
  roomsWithMembers(): number;
}

interface Joiner {
  roomId: string;
  ws: Socket | null;
  held: { id: number | null; frame: string }[];
  lastSent: number;
  waitForId: number | null;
  barrier: string | null;
  timer: NodeJS.Timeout | null;
}

const BARRIER_PREFIX = '{"op":"barrier","token":"';
const barrierFrame = (token: string) => `${BARRIER_PREFIX}${token}"}`;
const MAX_HELD_EVENTS = 10_000;

export interface FanoutOptions {
  send(ws: Socket, frames: readonly string[]): boolean;
  joinTimeoutMs?: number;
  /** A live event from the bus was handed to its topic (for metrics). */
  onPublished?(route: EventRoute): void;
}

export function createFanout(bus: Bus, mode: PubsubMode, publish: (topic: string, frame: string) => void, logger: Logger, options: FanoutOptions): Fanout {
  const joinTimeoutMs = options.joinTimeoutMs ?? 10_000;
  const members = new Map<string, number>();
  const recent = new Map<string, RecentIds>();
  const subscriptions = new Map<string, Promise<void>>();
  const joiners = new Map<string, Set<Joiner>>();
  const barriers = new Map<string, Joiner>();

  const removeJoiner = (joiner: Joiner) => {
    if (joiner.timer) clearTimeout(joiner.timer);
    if (joiner.barrier) barriers.delete(joiner.barrier);
    const set = joiners.get(joiner.roomId);
    set?.delete(joiner);
    if (set?.size === 0) joiners.delete(joiner.roomId);
  };

  const goNative = (joiner: Joiner) => {
    removeJoiner(joiner);
    if (joiner.ws && !joiner.ws.getUserData().closed) joiner.ws.subscribe(joiner.roomId);
  };

  const maybeGoNative = (joiner: Joiner) => {
    if (joiner.ws && joiner.barrier === null && joiner.waitForId === null) goNative(joiner);
  };

  const deliverToJoiner = (joiner: Joiner, id: number | null, frame: string) => {
    if (!joiner.ws) {
      if (joiner.held.length < MAX_HELD_EVENTS) joiner.held.push({ id, frame });
      return;
    }
    if (joiner.ws.getUserData().closed) return removeJoiner(joiner);
    if (id === null || id > joiner.lastSent) options.send(joiner.ws, [frame]);
    if (id !== null && joiner.waitForId !== null && id >= joiner.waitForId) {
      joiner.waitForId = null;
      maybeGoNative(joiner);
    }
  };

  bus.onMessage((_channel, frame) => {
    if (frame.startsWith(BARRIER_PREFIX)) {
      const joiner = barriers.get(frame.slice(BARRIER_PREFIX.length, -2));
      if (joiner) {
        barriers.delete(joiner.barrier!);
        joiner.barrier = null;
        maybeGoNative(joiner);
      }
      return; // someone else's barrier (global mode): not for us
    }
    const route = routeOf(frame);
    if (!route) {
      logger.warn('dropping malformed event from the bus');
      return;
    }
    const { roomId, messageId } = route;
    if (messageId !== null && recent.get(roomId)?.add(messageId) === false) return; // published twice
    publish(roomId, frame);
    options.onPublished?.(route);
    const roomJoiners = joiners.get(roomId);
    if (roomJoiners) for (const joiner of [...roomJoiners]) deliverToJoiner(joiner, messageId, frame);
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
    recent.delete(roomId);
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
      if (!recent.has(roomId)) recent.set(roomId, new RecentIds());
      const joiner: Joiner = { roomId, ws: null, held: [], lastSent: 0, waitForId: null, barrier: null, timer: null };
      const set = joiners.get(roomId) ?? new Set();
      set.add(joiner);
      joiners.set(roomId, set);
      try {
        if (mode === 'perconv') await subscribeRoom(roomId);
      } catch (err) {
        removeJoiner(joiner);
        release(roomId);
        throw err;
      }
      return {
        ready(ws, lastSent, unpublishedUpTo) {
          const frames = joiner.held.filter((e) => e.id === null || e.id > lastSent);
          const caughtUp = unpublishedUpTo === null || joiner.held.some((e) => e.id !== null && e.id >= unpublishedUpTo);
          joiner.held = [];
          joiner.ws = ws;
          joiner.lastSent = lastSent;
          joiner.waitForId = caughtUp ? null : unpublishedUpTo;
          const token = randomUUID();
          joiner.barrier = token;
          barriers.set(token, joiner);
          bus.publish([{ channel: channelFor(mode, roomId), message: barrierFrame(token) }]).catch(() => {});
          joiner.timer = setTimeout(() => {
            logger.debug({ roomId }, 'join catch-up timed out; subscribing');
            goNative(joiner);
          }, joinTimeoutMs);
          return frames.map((e) => e.frame);
        },
        cancel() {
          removeJoiner(joiner);
          release(roomId);
        },
      };
    },
    release,
    roomsWithMembers: () => members.size,
  };
}
