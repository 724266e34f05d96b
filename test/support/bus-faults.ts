// Cutting one gateway off the bus while everything else keeps running: the gateway reaches
// a private Redis through a TCP proxy (test/support/tcp-proxy.ts), workers reach it
// directly. cutSubscription kills the gateway's subscriber connection and refuses its
// reconnects (its publisher connection stays up); restoreSubscription lets it back in.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { TcpProxy } from './tcp-proxy';

/** Polls `condition` until it holds; throws, naming `what`, after `timeoutMs`. */
export async function until(what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Subscribers on `channel` right now, as Redis counts them. */
export async function subscriberCount(admin: Redis, channel: string): Promise<number> {
  return Number(((await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);
}

/**
 * The gateway behind `proxy` loses its subscription and cannot get it back: the proxy
 * refuses new connections, and Redis drops every subscriber connection (only gateways
 * subscribe). Anything published from now on is lost to that gateway's Pub/Sub.
 */
export async function cutSubscription(admin: Redis, proxy: TcpProxy, channel: string): Promise<void> {
  await proxy.setMode('refuse');
  await admin.client('KILL', 'TYPE', 'pubsub');
  await until(`no subscriber left on ${channel}`, async () => (await subscriberCount(admin, channel)) === 0, 5000);
}

/** Lets the gateway reconnect; resolves once it subscribed `channel` again and `settleMs` passed. */
export async function restoreSubscription(admin: Redis, proxy: TcpProxy, channel: string, settleMs = 1000): Promise<void> {
  await proxy.setMode('forward');
  await until(`the gateway subscribed to ${channel} again`, async () => (await subscriberCount(admin, channel)) >= 1, 15_000);
  await sleep(settleMs);
}
