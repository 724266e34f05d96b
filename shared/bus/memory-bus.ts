// In-process bus for a single process running both gateway and worker (no Redis).
// Delivery is asynchronous, like Redis, so callers cannot come to rely on re-entrancy.
import type { Bus, BusHandler, BusMessage } from './bus';

export function createMemoryBus(): Bus {
  const channels = new Set<string>();
  const handlers: BusHandler[] = [];
  let closed = false;

  const deliver = (channel: string, message: string) => {
    if (closed || !channels.has(channel)) return;
    for (const handler of handlers) handler(channel, message);
  };

  return {
    async publish(messages: readonly BusMessage[]) {
      // Like Redis after quit(): each message fails on its own; the call itself does not reject.
      if (closed) return messages.map(() => new Error('bus is closed'));
      for (const { channel, message } of messages) setImmediate(deliver, channel, message);
      return messages.map(() => null);
    },
    async subscribe(channel) {
      if (closed) throw new Error('bus is closed');
      channels.add(channel);
    },
    async unsubscribe(channel) {
      channels.delete(channel);
    },
    onMessage(handler) {
      handlers.push(handler);
    },
    onReconnect() {
      // never disconnects
    },
    async ping() {
      if (closed) throw new Error('bus is closed');
    },
    async close() {
      closed = true;
      channels.clear();
    },
  };
}
