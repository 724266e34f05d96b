// Artillery functions for ArcYou realtime (bench/artillery/chat.yml), built on the client
// SDK: each virtual user is a chat member that authenticates, joins its room, sends, acks
// what it reads and leaves. Artillery's own WebSocket steps cannot drive the protocol (they
// take the next frame as the reply, while backfill and live events arrive in between).
//
// Rooms are made through the server API: members join the current room until it has
// ARCYOU_ROOM_SIZE of them, then a new one starts. Tokens are development tokens (the user
// id); for a gateway with JWT auth, change tokenFor().
//
// Reported to Artillery: histograms arcyou.join_ms (join until the room is live),
// arcyou.ack_ms (send until its reply: stored), arcyou.delivery_ms (another member's send
// until it reached this one live; the clocks are one machine's, or keep them in sync),
// counters arcyou.sent, arcyou.delivered (live), arcyou.caught_up (backfill and history:
// sent before this member came), arcyou.send_error.<error>.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createChatClient, type DeliveredMessage, type SocketConstructor } from '../../client';

/** What Artillery passes a flow function. */
export interface ArtilleryContext {
  vars: Record<string, unknown> & { target?: string };
}
export interface ArtilleryEvents {
  emit(kind: 'counter' | 'histogram', name: string, value: number): void;
}

interface Settings {
  httpUrl: string;
  serverKey: string;
  roomSize: number;
  messages: number;
  sendIntervalMs: number;
  lingerMs: number;
}

const number = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0 (got ${JSON.stringify(process.env[name])})`);
  return value;
};

function settingsOf(context: ArtilleryContext): Settings {
  const httpUrl = String(context.vars.target ?? process.env.ARCYOU_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const serverKey = process.env.ARCYOU_SERVER_KEY;
  if (!serverKey) throw new Error("ARCYOU_SERVER_KEY is required: a key from the gateway's SERVER_API_KEYS (npm start prints one)");
  return {
    httpUrl,
    serverKey,
    roomSize: Math.max(1, number('ARCYOU_ROOM_SIZE', 10)),
    messages: number('ARCYOU_MESSAGES', 10),
    sendIntervalMs: number('ARCYOU_SEND_INTERVAL_MS', 1000),
    lingerMs: number('ARCYOU_LINGER_MS', 2000),
  };
}

const tokenFor = (userId: string) => userId;

async function serverApi(settings: Settings, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const response = await fetch(`${settings.httpUrl}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${settings.serverKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** The room being filled in this process (Artillery runs processes that each have their own). */
let filling: Promise<{ id: string; members: number }> | null = null;

/** A new member in the current room (a new room once it is full). */
async function memberSlot(settings: Settings, userId: string): Promise<string> {
  for (;;) {
    const current = filling;
    const room = current ? await current : null;
    if (room && room.members < settings.roomSize) {
      room.members++;
      await serverApi(settings, 'PUT', `/rooms/${room.id}/members/${userId}`, {});
      return room.id;
    }
    if (filling === current) {
      filling = serverApi(settings, 'POST', '/rooms', { name: `artillery ${new Date().toISOString()}` }).then(({ room: created }) => ({
        id: created.id as string,
        members: 0,
      }));
      // A failed create must not stay the current room.
      filling.catch(() => (filling = null));
    }
  }
}

/** One chat member's session: join, send `ARCYOU_MESSAGES` at `ARCYOU_SEND_INTERVAL_MS`, ack what it read, linger, leave. */
export async function chatMember(context: ArtilleryContext, events: ArtilleryEvents): Promise<void> {
  const settings = settingsOf(context);
  const userId = randomUUID();
  const roomId = await memberSlot(settings, userId);
  const chat = createChatClient({
    url: settings.httpUrl.replace(/^http/, 'ws') + '/',
    apiUrl: settings.httpUrl,
    token: tokenFor(userId),
    WebSocket: WebSocket as unknown as SocketConstructor,
  });
  try {
    const room = chat.room(roomId);
    let newest: DeliveredMessage | null = null;
    room.on('message', (message) => {
      const sentAt = (message.content as { sent_at?: unknown }).sent_at;
      if (message.user_id === userId || typeof sentAt !== 'number') return;
      newest = message;
      // Backfill and history are what was sent before this member came: not a delivery latency.
      if (message.source !== 'live') return events.emit('counter', 'arcyou.caught_up', 1);
      events.emit('histogram', 'arcyou.delivery_ms', Date.now() - sentAt);
      events.emit('counter', 'arcyou.delivered', 1);
    });
    const joinStarted = Date.now();
    await new Promise<void>((resolve) => room.on('joined', () => resolve()));
    events.emit('histogram', 'arcyou.join_ms', Date.now() - joinStarted);

    let acked: DeliveredMessage | null = null;
    const ackNewest = async () => {
      const message = newest;
      if (!message || message === acked) return;
      acked = message;
      await room.ack(message.id).catch(() => {}); // a lost ack is only a read mark
    };
    for (let n = 0; n < settings.messages; n++) {
      if (n > 0) await sleep(settings.sendIntervalMs);
      const sentAt = Date.now();
      try {
        await room.send({ text: `artillery ${n}`, sent_at: sentAt });
        events.emit('histogram', 'arcyou.ack_ms', Date.now() - sentAt);
        events.emit('counter', 'arcyou.sent', 1);
      } catch (err) {
        events.emit('counter', `arcyou.send_error.${(err as { code?: string }).code ?? 'other'}`, 1);
      }
      await ackNewest();
    }
    await sleep(settings.lingerMs);
    await ackNewest();
  } finally {
    chat.close();
  }
}
