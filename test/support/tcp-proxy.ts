// A TCP proxy for fault tests, put between a process and Redis or PostgreSQL, that can
// misbehave on demand:
// - `forward`: new connections are piped to the target;
// - `accept-then-drop`: new connections are accepted, what they send is swallowed, and
//   they are closed a moment later (a blip where the client thinks it connected);
// - `refuse`: nothing listens on the port (connection refused).
// Connections already forwarded keep working whatever the mode, until cut(). The
// target → client direction of a forwarded connection can also be held (buffered, not
// delivered) from the first chunk that contains a marker, until release(): a query whose
// answer carries the marker has run in PostgreSQL, but its client does not know yet.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type ProxyMode = 'forward' | 'accept-then-drop' | 'refuse';

export interface TcpProxy {
  readonly port: number;
  readonly mode: ProxyMode;
  /** Applies to connections made from now on (refuse closes the listener, forward/accept-then-drop reopen it). */
  setMode(mode: ProxyMode): Promise<void>;
  /** Closes every connection in hand (forwarded or being dropped); the listener stays as the mode says. */
  cut(): void;
  /** Forwarded connections still open. */
  forwarded(): number;
  /** Connections accepted and dropped in accept-then-drop mode so far. */
  dropped(): number;
  /** From now on, a forwarded connection whose target sends `marker` stops delivering to its client (from that chunk on) until release(). One-shot: disarmed once it fired. */
  holdOn(marker: string): void;
  /** True once a hold has fired and is not yet released. */
  holding(): boolean;
  /** Delivers everything held and forwards normally again. */
  release(): void;
  /** Connections made from now on go to this port (a process restarted elsewhere behind a fixed address). */
  retarget(port: number): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  target: Socket | null;
  held: Buffer[] | null;
}

export async function startTcpProxy(initialTargetPort: number, options: { host?: string; dropAfterMs?: number } = {}): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1';
  const dropAfterMs = options.dropAfterMs ?? 30;
  const pairs = new Set<Pair>();
  let targetPort = initialTargetPort;
  let mode: ProxyMode = 'forward';
  let droppedCount = 0;
  let marker: Buffer | null = null;
  let server: Server | null = null;
  let port = 0;

  const closePair = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.target?.destroy();
  };

  const onConnection = (client: Socket) => {
    client.setNoDelay(true);
    const pair: Pair = { client, target: null, held: null };
    pairs.add(pair);
    client.on('error', () => closePair(pair));
    client.on('close', () => closePair(pair));
    if (mode !== 'forward') {
      // Swallow whatever it says, then hang up: it saw a connection that went nowhere.
      client.on('data', () => {});
      droppedCount++;
      setTimeout(() => closePair(pair), dropAfterMs);
      return;
    }
    const target = connect({ host, port: targetPort });
    target.setNoDelay(true);
    pair.target = target;
    target.on('error', () => closePair(pair));
    target.on('close', () => closePair(pair));
    let tail = Buffer.alloc(0);
    target.on('data', (chunk: Buffer) => {
      if (!pair.held && marker) {
        // Look across the chunk boundary too: the marker may be split between two reads.
        const window = Buffer.concat([tail, chunk]);
        if (window.includes(marker)) {
          marker = null;
          pair.held = [];
        } else {
          tail = window.subarray(Math.max(0, window.length - 256));
        }
      }
      if (pair.held) pair.held.push(chunk);
      else client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => target.write(chunk));
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        server = s;
        port = (s.address() as { port: number }).port;
        resolve();
      });
    });
  // server.close() stops listening at once; its callback would wait for every connection
  // to end, and connections already forwarded are meant to outlive the listener.
  const unlisten = async () => {
    server?.close();
    server = null;
  };

  await listen();

  return {
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    async setMode(next) {
      mode = next;
      if (next === 'refuse') await unlisten();
      else if (!server) {
        // The port was released a moment ago: retry briefly if the kernel still holds it.
        for (let attempt = 0; ; attempt++) {
          try {
            await listen();
            break;
          } catch (err) {
            if (attempt > 50) throw err;
            await sleep(20);
          }
        }
      }
    },
    cut() {
      for (const pair of [...pairs]) closePair(pair);
    },
    forwarded: () => [...pairs].filter((p) => p.target !== null).length,
    dropped: () => droppedCount,
    holdOn(text) {
      marker = Buffer.from(text);
    },
    holding: () => [...pairs].some((p) => p.held !== null),
    release() {
      marker = null;
      for (const pair of pairs) {
        const held = pair.held;
        pair.held = null;
        // In one write, as a slow network would deliver it: the client parses it all in one go.
        if (held?.length) pair.client.write(Buffer.concat(held));
      }
    },
    retarget(next) {
      targetPort = next;
    },
    async close() {
      mode = 'refuse';
      for (const pair of [...pairs]) closePair(pair);
      await unlisten();
    },
  };
}
