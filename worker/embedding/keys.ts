// The Redis keys of one embedding queue. Everything hangs off the queue key, except the
// failed list, which operators watch and may share between queues.
export interface QueueKeys {
  /** Producers LPUSH here; consumers take from the right. */
  queue: string;
  /** Jobs waiting out a retry backoff: a sorted set scored by due time (ms). */
  delayed: string;
  /** Jobs given up on, newest first, each wrapped with its error. */
  failed: string;
  /** Consumers seen recently: a set of ids, each with a heartbeat key. */
  consumers: string;
  /** Jobs one consumer has taken and not yet settled (the reliable-queue list). */
  processing(consumerId: string): string;
  /** Exists while the consumer is alive (a key with a TTL). */
  heartbeat(consumerId: string): string;
}

export function queueKeys(queueKey: string, failedKey: string): QueueKeys {
  return {
    queue: queueKey,
    delayed: `${queueKey}:delayed`,
    failed: failedKey,
    consumers: `${queueKey}:consumers`,
    processing: (id) => `${queueKey}:processing:${id}`,
    heartbeat: (id) => `${queueKey}:heartbeat:${id}`,
  };
}
