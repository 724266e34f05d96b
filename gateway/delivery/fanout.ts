// Room events from the bus → the rooms of this gateway (room.ts) → native uWS topics.
// Each event arrives serialised once; a room hands it to app.publish as-is, in seq order,
// and uWS loops over the room's sockets in C++. This module keeps the rooms that have
// sockets here, their bus subscriptions (perconv: one channel per room) and tells every
// room when the bus reconnected.
import type { RoomBus } from '../../shared/bus/room-bus';
import type { Logger } from '../../shared/logger';
import { messageIdOf, roomIdOf, routeOf, type EventRoute } from '../../shared/protocol/events';
import type { Socket } from '../session';
import { Room, type OpenJoin, type RoomPort, type RoomSettings } from './room';

/** A socket on its way into a room: open() once its snapshot is read, or cancel(). */
export interface Joining {
  open(join: OpenJoin): boolean;
  cancel(): void;
}

export interface Fanout {
  start(): Promise<void>;
  /**
   * A message this gateway stored and is publishing itself (the fast path), right after its
   * commit: its room here takes it at once when that cannot reorder the room (Room.takeOwn),
   * and its copy from the bus is then dropped unseen. Otherwise the copy brings it.
   * `route`: the frame's, as routeOf would read it (the caller made the frame).
   */
  deliverOwn(frame: string, eventSeq: number, route: EventRoute): void;
  /**
   * An ephemeral event of a room (typing, read receipts: never stored, no seq): to the room's
   * sockets here but `from` at once, and through the bus to the other gateways. Its copy that
   * comes back from the bus is dropped here.
   */
  publishEphemeral(from: Socket, roomId: string, frame: string): Promise<void>;
  /**
   * A room event this gateway just committed (its outbox row publishes it again later),
   * through the bus to every gateway, this one too: rooms place it by seq and drop the
   * second copy by its event_id. Best effort: a failed publish is left to the outbox.
   */
  publishCommitted(roomId: string, frame: string): Promise<void>;
  /** A socket starts joining: its room here exists and hears the bus before this resolves. */
  beginJoin(ws: Socket, roomId: string, userId: string): Promise<Joining>;
  /** Takes an open socket out of a room (re-join). */
  leave(ws: Socket, roomId: string): void;
  roomsWithMembers(): number;
  /** The room's last delivered seq here (tests and diagnostics). */
  deliveredSeq(roomId: string): number | null;
  /** Resolves when no room is reading a gap (tests, shutdown). */
  settled(): Promise<void>;
}

/** What a room needs from the gateway, for any room. */
export type RoomPorts = Omit<RoomPort, 'roomId' | 'readGap' | 'readPage' | 'forget' | 'publish' | 'subscribe' | 'unsubscribe'> & {
  publish(topic: string, frame: string): void;
  /** To the topic's sockets except `from`. */
  publishExcept(from: Socket, topic: string, frame: string): void;
  subscribe(ws: Socket, topic: string): void;
  unsubscribe(ws: Socket, topic: string): void;
  readGap(roomId: string, ...rest: Parameters<RoomPort['readGap']>): ReturnType<RoomPort['readGap']>;
  readPage(roomId: string, ...rest: Parameters<RoomPort['readPage']>): ReturnType<RoomPort['readPage']>;
  /** The socket is no longer in the room (its session forgets the room). */
  forget(ws: Socket, roomId: string): void;
};

/** Own ephemeral frames remembered until their copy comes back from the bus; past this the oldest are forgotten. */
const MAX_OWN_EPHEMERAL = 16_384;
/** Own messages taken before their copy came back; past this the oldest are forgotten (a late copy is then dropped by seq). */
const MAX_OWN_MESSAGES = 65_536;

export function createFanout(bus: RoomBus, ports: RoomPorts, settings: RoomSettings, logger: Logger): Fanout {
  const rooms = new Map<string, Room>();
  const subscriptions = new Map<string, Promise<void>>();

  const closeIfEmpty = (roomId: string, room: Room) => {
    if (room.size > 0 || rooms.get(roomId) !== room) return;
    room.close();
    rooms.delete(roomId);
    if (subscriptions.delete(roomId)) {
      bus.unsubscribeRoom(roomId).catch((err: unknown) => logger.warn({ roomId, err }, 'unsubscribe failed'));
    }
  };

  const roomFor = (roomId: string): Room => {
    let room = rooms.get(roomId);
    if (room) return room;
    const port: RoomPort = {
      ...ports,
      roomId,
      publish: (frame) => ports.publish(roomId, frame),
      subscribe: (ws) => ports.subscribe(ws, roomId),
      unsubscribe: (ws) => ports.unsubscribe(ws, roomId),
      readGap: (...args) => ports.readGap(roomId, ...args),
      readPage: (...args) => ports.readPage(roomId, ...args),
      forget: (ws) => {
        ports.forget(ws, roomId);
        // Evictions happen while the room hands events on: close it after that.
        queueMicrotask(() => closeIfEmpty(roomId, room!));
      },
    };
    room = new Room(port, settings);
    rooms.set(roomId, room);
    return room;
  };

  const subscribeRoom = (roomId: string): Promise<void> => {
    let subscription = subscriptions.get(roomId);
    if (!subscription) {
      const attempt = bus.subscribeRoom(roomId);
      attempt.catch(() => {
        if (subscriptions.get(roomId) === attempt) subscriptions.delete(roomId);
      });
      subscriptions.set(roomId, attempt);
      subscription = attempt;
    }
    return subscription;
  };

  /** Ephemeral frames this gateway published (publishEphemeral), until their copy comes back. */
  const ownEphemeral = new Set<string>();
  /** Messages this gateway's rooms took from it directly (deliverOwn), until their copy comes back. */
  const ownMessages = new Set<number>();

  bus.onEvent((frame) => {
    // Global mode carries every room's events to every gateway: skip, unparsed, the rooms
    // nobody here is in.
    const roomId = roomIdOf(frame);
    if (roomId !== null && !rooms.has(roomId)) return;
    if (ownEphemeral.size > 0 && ownEphemeral.delete(frame)) return;
    if (ownMessages.size > 0) {
      // Most copies of own messages are told by their id at the head of the frame, unparsed.
      const messageId = messageIdOf(frame);
      if (messageId !== null && ownMessages.delete(messageId)) return;
    }
    const route = routeOf(frame);
    if (!route) {
      logger.warn('dropping malformed event from the bus');
      return;
    }
    if (ownMessages.size > 0 && route.messageId !== null && ownMessages.delete(route.messageId)) return;
    rooms.get(route.roomId)?.receive(frame, route);
  });

  bus.onReconnect(() => {
    for (const room of rooms.values()) room.busReconnected();
  });

  return {
    deliverOwn(frame, eventSeq, route) {
      const room = rooms.get(route.roomId);
      if (!room || !room.takeOwn(frame, route, eventSeq) || route.messageId === null) return;
      ownMessages.add(route.messageId);
      // Copies that never come back (a failed publish, a channel left) must not pile up.
      if (ownMessages.size > MAX_OWN_MESSAGES) ownMessages.delete(ownMessages.values().next().value!);
    },
    async publishEphemeral(from, roomId, frame) {
      ports.publishExcept(from, roomId, frame);
      ownEphemeral.add(frame);
      if (ownEphemeral.size > MAX_OWN_EPHEMERAL) ownEphemeral.delete(ownEphemeral.values().next().value!);
      const [err] = await bus.publish([{ roomId, frame }]);
      if (err) {
        ownEphemeral.delete(frame);
        throw err;
      }
    },
    async publishCommitted(roomId, frame) {
      // Never throws: the outbox row is the event's way there in any case.
      const err = await bus.publish([{ roomId, frame }]).then(
        ([failure]) => failure,
        (failure: unknown) => failure,
      );
      if (err) logger.warn({ roomId, err }, 'publishing a committed room event failed; the outbox workers publish it');
    },
    start: () => bus.start(),
    async beginJoin(ws, roomId, userId) {
      const room = roomFor(roomId);
      const joiner = room.register(ws, userId);
      const cancel = () => {
        room.cancel(joiner);
        closeIfEmpty(roomId, room);
      };
      try {
        await subscribeRoom(roomId);
      } catch (err) {
        cancel();
        throw err;
      }
      return {
        open: (join) => {
          const opened = room.open(joiner, join);
          if (!opened) closeIfEmpty(roomId, room);
          return opened;
        },
        cancel,
      };
    },
    leave(ws, roomId) {
      const room = rooms.get(roomId);
      if (!room) return;
      room.leave(ws);
      closeIfEmpty(roomId, room);
    },
    roomsWithMembers: () => rooms.size,
    deliveredSeq: (roomId) => rooms.get(roomId)?.deliveredSeq ?? null,
    settled: async () => {
      await Promise.all([...rooms.values()].map((room) => room.settled()));
    },
  };
}
