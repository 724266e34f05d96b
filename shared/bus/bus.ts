// The one seam between the outbox workers and the gateways, by channel. Three
// implementations pass the same contract tests: Redis Pub/Sub and Redis Cluster sharded
// Pub/Sub (many processes), and in-process (one process). Gateways and workers use it
// addressed by room (room-bus.ts), which maps rooms to channels per PUBSUB_MODE.

export interface BusMessage {
  channel: string;
  message: string;
}

export type BusHandler = (channel: string, message: string) => void;

export interface Bus {
  /** Publishes, each channel's messages in order; resolves to one result per message: null, or the error that message met. */
  publish(messages: readonly BusMessage[]): Promise<Array<Error | null>>;
  /** Resolves once messages on `channel` are being delivered to the handlers. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  onMessage(handler: BusHandler): void;
  /** Called after the bus lost its connection and got it back: messages may have been missed. */
  onReconnect(handler: () => void): void;
  /** Resolves when the bus can publish and subscribe (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
