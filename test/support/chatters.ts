// Well-behaved clients chatting in one room at a steady pace, while a test abuses the
// same gateway: every message must reach every member, and how long it took is measured.
import { setTimeout as sleep } from 'node:timers/promises';
import { TestClient } from './ws-client';

export interface ChatReport {
  /** Messages the gateway accepted (success reply with a message id). */
  sent: number;
  /** Sends that got no success reply (error reply or timeout), with the reason. */
  failures: string[];
  /** Message ids some member never received, with the member's index. */
  missing: Array<{ member: number; messageId: number }>;
  /** Send request → live event at a member, over all (message, member) pairs. */
  latencyMs: { p50: number; p99: number; max: number };
}

export interface Chatters {
  stop(options?: { drainMs?: number }): Promise<ChatReport>;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0);

/** Logs each user in to `roomId` on its own connection; each then sends one message every `intervalMs`. */
export async function startChatters(port: number, roomId: string, userIds: readonly string[], intervalMs: number): Promise<Chatters> {
  const clients = await Promise.all(
    userIds.map(async (userId) => {
      const client = await TestClient.connect(port);
      await client.login(userId, roomId);
      return client;
    }),
  );
  const requestedAt = new Map<number, number>();
  const receivedAt = clients.map(() => new Map<number, number>());
  clients.forEach((client, i) =>
    client.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString()) as { op?: string; roomId?: string; message?: { id?: number } };
      if (frame.op === 'event' && frame.roomId === roomId && typeof frame.message?.id === 'number' && !receivedAt[i]!.has(frame.message.id)) {
        receivedAt[i]!.set(frame.message.id, performance.now());
      }
    }),
  );

  const failures: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let running = true;
  let n = 0;
  const timers = clients.map((client, i) =>
    setInterval(() => {
      if (!running) return;
      const started = performance.now();
      const request = client.request({ op: 'send', room_id: roomId, content: { text: `chat ${i}-${n++}` } }, 10_000).then(
        (reply) => {
          if (reply.success) requestedAt.set(reply.message_id as number, started);
          else failures.push(`${reply.error as string}`);
        },
        (err: Error) => void failures.push(err.message),
      );
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }, intervalMs),
  );

  return {
    async stop({ drainMs = 10_000 } = {}) {
      running = false;
      timers.forEach(clearInterval);
      await Promise.all(inFlight);
      const deadline = Date.now() + drainMs;
      const allDelivered = () => receivedAt.every((got) => [...requestedAt.keys()].every((id) => got.has(id)));
      while (!allDelivered() && Date.now() < deadline) await sleep(20);
      const missing: ChatReport['missing'] = [];
      const latencies: number[] = [];
      receivedAt.forEach((got, member) => {
        for (const [id, at] of requestedAt) {
          const arrived = got.get(id);
          if (arrived === undefined) missing.push({ member, messageId: id });
          else latencies.push(arrived - at);
        }
      });
      clients.forEach((client) => client.close());
      latencies.sort((a, b) => a - b);
      const round = (ms: number) => Math.round(ms);
      return {
        sent: requestedAt.size,
        failures,
        missing,
        latencyMs: { p50: round(percentile(latencies, 0.5)), p99: round(percentile(latencies, 0.99)), max: round(latencies.at(-1) ?? 0) },
      };
    },
  };
}
