// Room events from the bus → native uWS topics. Each event arrives serialised once and
// is handed to app.publish as-is: uWS loops over the room's sockets in C++.
//
// Three moments need more than that:
// - A joining socket, for a moment. Its backfill comes from a database snapshot while
//   live events keep flowing, so until it is safe to subscribe it natively it is a
//   "joiner": events are held while the backfill loads, then sent to it one by one,
//   skipping those the backfill already carried. It goes native once (a) a barrier it
//   published through the bus has come back — so every event published before the
//   snapshot has reached this process — and (b) the newest backfilled message that was
//   still unpublished at the snapshot has come through live. A timeout ends the wait.
// - The bus reconnecting. Pub/Sub drops whatever was published while we were away, so
//   each room with members here catches up from PostgreSQL (messages after the last one
//   delivered), holding live events meanwhile; duplicates are dropped by message id.
// - A member removed: its sockets here leave the room at once (onMemberRemoved).
import { randomUUID } from 'node:crypto';
import type { Bus } from '../shared/bus/bus';
import { channelFor, GLOBAL_CHANNEL, type PubsubMode } from '../shared/bus/channels';
import type { Logger } from '../shared/logger';
import { roomIdOf, routeOf, serializeMessageEvent, type ChatMessage, type EventRoute } from '../shared/protocol/events';
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
  /** A closed socket was in the room. */
  release(roomId: string): void;
  /** Takes an open socket out of a room it joined (re-join, member removed). */
  leave(ws: Socket, roomId: string): void;
  roomsWithMembers(): number;
  /** Resolves when no room is catching up after a bus reconnect (tests, shutdown). */
  settled(): Promise<void>;
}

export interface FanoutOptions {
  send(ws: Socket, frames: readonly string[]): boolean;
  /** Messages of a room after an id, oldest first (from PostgreSQL), for catching up. */
  loadMissed(roomId: string, afterId: number): Promise<ChatMessage[]>;
  /**
   * A member.removed event arrived: send it to that user's sockets here and take them out
   * of the room (`leave`). Called before the event goes to the topic, because a topic
   * publish is flushed later and a socket unsubscribed meanwhile would never see it.
   */
  onMemberRemoved?(roomId: string, userId: string, frame: string): void;
  /** A live event from the bus was handed to its topic (for metrics). */
  onPublished?(route: EventRoute): void;
  joinTimeoutMs?: number;
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

interface Room {
  /** Sockets joined or joining here. */
  members: number;
  recent: RecentIds;
  /** Highest message id handed to the topic; where a catch-up starts. */
  lastDelivered: number | null;
  joiners: Set<Joiner>;
  /** Live events held while the room catches up after a bus reconnect. */
  catchUpHold: { frame: string; route: EventRoute }[] | null;
}

const BARRIER_PREFIX = '{"op":"barrier","token":"';
const barrierFrame = (token: string) => `${BARRIER_PREFIX}${token}"}`;
const MAX_HELD_EVENTS = 10_000;

export function createFanout(bus: Bus, mode: PubsubMode, publish: (topic: string, frame: string) => void, logger: Logger, options: FanoutOptions): Fanout {
  const joinTimeoutMs = options.joinTimeoutMs ?? 10_000;
  const rooms = new Map<string, Room>();
  const subscriptions = new Map<string, Promise<void>>();
  const barriers = new Map<string, Joiner>();
  let catchingUp: Promise<void> = Promise.resolve();

  const removeJoiner = (joiner: Joiner) => {
    if (joiner.timer) clearTimeout(joiner.timer);
    if (joiner.barrier) barriers.delete(joiner.barrier);
    rooms.get(joiner.roomId)?.joiners.delete(joiner);
  };

  const goNative = (joiner: Joiner) => {
    removeJoiner(joiner);
    const session = joiner.ws?.getUserData();
    if (joiner.ws && session && !session.closed && session.rooms.has(joiner.roomId)) joiner.ws.subscribe(joiner.roomId);
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

  const deliver = (frame: string, route: EventRoute) => {
    const room = rooms.get(route.roomId);
    if (!room) return; // nobody here is in this room (global mode carries every room)
    if (room.catchUpHold) {
      room.catchUpHold.push({ frame, route });
      return;
    }
    const { messageId } = route;
    if (messageId !== null) {
      if (!room.recent.add(messageId)) return; // published twice (worker died before marking it)
      room.lastDelivered = Math.max(room.lastDelivered ?? 0, messageId);
    }
    if (route.type === 'member.removed' && route.userId) options.onMemberRemoved?.(route.roomId, route.userId, frame);
    publish(route.roomId, frame);
    options.onPublished?.(route);
    if (room.joiners.size) for (const joiner of [...room.joiners]) deliverToJoiner(joiner, messageId, frame);
  };

  const catchUpRoom = async (roomId: string, room: Room) => {
    if (room.catchUpHold || room.lastDelivered === null) return;
    room.catchUpHold = [];
    try {
      const missed = await options.loadMissed(roomId, room.lastDelivered);
      const hold = room.catchUpHold;
      room.catchUpHold = null;
      for (const message of missed) {
        const route: EventRoute = { roomId, type: 'message.created', messageId: message.id, publishedAtMs: null, userId: null };
        deliver(serializeMessageEvent(roomId, message, 'live'), route);
      }
      if (missed.length) logger.info({ roomId, count: missed.length }, 'caught up from PostgreSQL after a bus reconnect');
      for (const held of hold) deliver(held.frame, held.route);
    } catch (err) {
      const hold = room.catchUpHold ?? [];
      room.catchUpHold = null;
      logger.error({ roomId, err: (err as Error).message }, 'catch-up after bus reconnect failed');
      for (const held of hold) deliver(held.frame, held.route);
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
    // Global mode carries every room's events to every gateway: skip, unparsed, the rooms
    // nobody here is in.
    const roomId = roomIdOf(frame);
    if (roomId !== null && !rooms.has(roomId)) return;
    const route = routeOf(frame);
    if (!route) {
      logger.warn('dropping malformed event from the bus');
      return;
    }
    deliver(frame, route);
  });

  bus.onReconnect(() => {
    catchingUp = Promise.all([...rooms].map(([roomId, room]) => catchUpRoom(roomId, room))).then(() => {});
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
    const room = rooms.get(roomId);
    if (!room) return;
    room.members -= 1;
    if (room.members > 0) return;
    rooms.delete(roomId);
    if (mode === 'perconv' && subscriptions.delete(roomId)) {
      bus.unsubscribe(channelFor(mode, roomId)).catch((err: Error) => logger.warn({ roomId, err: err.message }, 'unsubscribe failed'));
    }
  };

  return {
    async start() {
      if (mode === 'global') await bus.subscribe(GLOBAL_CHANNEL);
    },
    async beginJoin(roomId) {
      let room = rooms.get(roomId);
      if (!room) {
        room = { members: 0, recent: new RecentIds(), lastDelivered: null, joiners: new Set(), catchUpHold: null };
        rooms.set(roomId, room);
      }
      room.members += 1;
      const joiner: Joiner = { roomId, ws: null, held: [], lastSent: 0, waitForId: null, barrier: null, timer: null };
      room.joiners.add(joiner);
      try {
        if (mode === 'perconv') await subscribeRoom(roomId);
      } catch (err) {
        removeJoiner(joiner);
        release(roomId);
        throw err;
      }
      return {
        ready(ws, lastSent, unpublishedUpTo) {
          const current = rooms.get(roomId);
          if (current && current.lastDelivered === null) current.lastDelivered = lastSent;
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
    leave(ws, roomId) {
      if (!ws.getUserData().rooms.delete(roomId)) return;
      for (const joiner of [...(rooms.get(roomId)?.joiners ?? [])]) if (joiner.ws === ws) removeJoiner(joiner);
      ws.unsubscribe(roomId);
      release(roomId);
    },
    roomsWithMembers: () => rooms.size,
    settled: () => catchingUp,
  };
}
