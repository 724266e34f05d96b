// The two systems' client wire protocols, over the same `ws` package so that both
// sides' load generators do the same client work per frame:
//  - ours: the WebSocket protocol's JSON frames (README) (auth, join, send; events carry message.content);
//    or, with `--our-client=sdk`, our client SDK, as an application uses it (every frame parsed,
//    ordered and checked: the latency an application sees, at a higher cost per frame);
//  - Socket.IO: the Engine.IO v4 / Socket.IO v5 packet format socket.io-client speaks
//    ("40" connect with auth, "42[...]" events, "42N[...]"/"43N[...]" acks, "2"/"3" ping).
import WebSocket from 'ws';
import { createChatClient, type SocketConstructor } from '../../client';

export type System = 'ours' | 'socketio';
/** How the load generator talks to our gateway: raw frames (reads the stamp without parsing), or the client SDK. */
export type OurClient = 'frames' | 'sdk';

/** What every bench message carries as its content. */
export interface Stamp {
  /** Intended send time, epoch ms (fractional). */
  t: number;
  /** Writer id: which sender or publisher produced it. */
  w: number;
  /** The writer's sequence number. */
  s: number;
}

export interface BenchSocket {
  /** Sends a chat message through the server's full path (fire and forget). */
  send(roomId: string, content: Stamp): void;
  close(): void;
  /** Times the server refused or failed a send. */
  sendErrors: number;
  closedUnexpectedly: boolean;
}

export type OnEvent = (content: Stamp) => void;

const STAMP_T = /"t":(\d+(?:\.\d+)?)/;
const STAMP_W = /"w":(\d+)/;

/**
 * The bench stamp of a live event frame, read without parsing the whole frame (a load
 * generator that spends more per message than the server measures itself). Only the
 * stamp's keys are named "t" and "w" in either system's event frames; JSONB may reorder
 * them, hence one search each. null = not a stamped event (a reply, a ping).
 */
export function readStamp(text: string): Stamp | null {
  const t = STAMP_T.exec(text);
  if (!t) return null;
  const w = STAMP_W.exec(text);
  return { t: Number(t[1]), w: w ? Number(w[1]) : -1, s: -1 };
}

interface Handshake {
  ws: WebSocket;
  pending: Map<string | number, (reply: any) => void>;
}

/** `localAddress`: the source address (127.0.0.x: each gives its own ~28,000 ephemeral ports). */
function open(url: string, localAddress?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, ...(localAddress ? { localAddress } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function waitReply(h: Handshake, id: string | number, what: string, timeoutMs = 30_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    h.pending.set(id, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

/** A BenchSocket over `ws` that notices a close it did not ask for. */
function trackedSocket(ws: WebSocket, send: BenchSocket['send']): BenchSocket {
  let closing = false;
  const socket: BenchSocket = {
    send,
    close: () => {
      closing = true;
      ws.close();
    },
    sendErrors: 0,
    closedUnexpectedly: false,
  };
  ws.on('close', () => {
    if (!closing) socket.closedUnexpectedly = true;
  });
  return socket;
}

async function connectOurs(port: number, userId: string, roomId: string, onEvent: OnEvent, localAddress?: string): Promise<BenchSocket> {
  const ws = await open(`ws://127.0.0.1:${port}/`, localAddress);
  const h: Handshake = { ws, pending: new Map() };
  const socket = trackedSocket(ws, (room, content) => ws.send(`{"op":"send","room_id":"${room}","content":${JSON.stringify(content)}}`));
  ws.on('message', (data) => {
    const text = data.toString();
    const stamp = readStamp(text);
    if (stamp) return onEvent(stamp);
    const frame = JSON.parse(text);
    if (frame.request_id !== undefined) {
      h.pending.get(frame.request_id)?.(frame);
      h.pending.delete(frame.request_id);
      return;
    }
    if (frame.op === 'send' && frame.success === false) socket.sendErrors++;
  });
  const auth = waitReply(h, 'a', 'auth');
  ws.send(JSON.stringify({ op: 'auth', token: userId, request_id: 'a' }));
  if (!(await auth).success) throw new Error('auth refused');
  const join = waitReply(h, 'j', 'join');
  ws.send(JSON.stringify({ op: 'join', room_id: roomId, request_id: 'j' }));
  const joined = await join;
  if (!joined.success) throw new Error(`join refused: ${joined.error}`);
  return socket;
}

async function connectSocketIo(port: number, userId: string, roomId: string, onEvent: OnEvent): Promise<BenchSocket> {
  const ws = await open(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  const h: Handshake = { ws, pending: new Map() };
  let nextAck = 1;
  const socket = trackedSocket(ws, (room, content) => ws.send(`42${nextAck++}["send",{"room_id":"${room}","content":${JSON.stringify(content)}}]`));
  ws.on('message', (data) => {
    const text = data.toString();
    const stamp = text.startsWith('42["event"') ? readStamp(text) : null;
    if (stamp) {
      onEvent(stamp);
    } else if (text === '2') {
      ws.send('3');
    } else if (text.startsWith('43')) {
      const bracket = text.indexOf('[');
      const id = Number(text.slice(2, bracket));
      const [reply] = JSON.parse(text.slice(bracket));
      const waiter = h.pending.get(id);
      if (waiter) {
        h.pending.delete(id);
        waiter(reply);
      } else if (!reply?.success) socket.sendErrors++;
    } else if (text.startsWith('40')) {
      h.pending.get('connect')?.({ success: true });
    } else if (text.startsWith('44')) {
      h.pending.get('connect')?.({ success: false, error: text.slice(2) });
    }
  });
  const connected = waitReply(h, 'connect', 'socket.io connect');
  ws.send(`40${JSON.stringify({ token: userId })}`);
  const connect = await connected;
  if (!connect.success) throw new Error(`socket.io connect refused: ${connect.error}`);
  const joinId = nextAck++;
  const join = waitReply(h, joinId, 'join');
  ws.send(`42${joinId}${JSON.stringify(['join', roomId])}`);
  const joined = await join;
  if (!joined.success) throw new Error(`join refused: ${joined.error}`);
  return socket;
}

async function connectSdk(port: number, userId: string, roomId: string, onEvent: OnEvent): Promise<BenchSocket> {
  // No reconnects: a dropped socket is a fault of the run, as with raw frames.
  const chat = createChatClient({
    url: `ws://127.0.0.1:${port}/`,
    token: userId,
    WebSocket: WebSocket as unknown as SocketConstructor,
    reconnect: { baseMs: 60_000, maxMs: 60_000 },
  });
  const room = chat.room(roomId);
  let closing = false;
  const socket: BenchSocket = {
    send: (_room, content) => void room.send(content as unknown as Record<string, unknown>).catch(() => socket.sendErrors++),
    close: () => {
      closing = true;
      chat.close();
    },
    sendErrors: 0,
    closedUnexpectedly: false,
  };
  room.on('message', (message) => {
    if (message.source === 'live') onEvent(message.content as unknown as Stamp);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for join')), 30_000);
    room.on('joined', () => {
      clearTimeout(timer);
      resolve();
    });
    room.on('error', (err) => reject(err));
  });
  chat.on('state', (state) => {
    if (state === 'disconnected' && !closing) socket.closedUnexpectedly = true;
  });
  return socket;
}

/** `localAddress` is used by our raw-frame client only (the connections bench). */
export function connect(
  system: System,
  port: number,
  userId: string,
  roomId: string,
  onEvent: OnEvent,
  ourClient: OurClient = 'frames',
  localAddress?: string,
): Promise<BenchSocket> {
  if (system === 'socketio') return connectSocketIo(port, userId, roomId, onEvent);
  return ourClient === 'sdk' ? connectSdk(port, userId, roomId, onEvent) : connectOurs(port, userId, roomId, onEvent, localAddress);
}
