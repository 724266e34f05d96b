// The gateway: a uWS app with the WebSocket endpoint and HTTP probes, wired to the
// database, the bus and the fan-out. Created and drained by gateway/main.ts (and tests).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus } from '../shared/bus/bus';
import { createRoomBus } from '../shared/bus/room-bus';
import type { Sql } from '../shared/db/client';
import type { Logger } from '../shared/logger';
import { createRegistry, type Registry } from '../shared/metrics';
import { failedChecks, readiness, type ReadinessChecks } from '../shared/metrics-server';
import { roomEventFrame } from '../shared/protocol/events';
import { createApi } from './api/http-api';
import { historyRoutes } from './api/history-api';
import { messageRoutes } from './api/messages-api';
import { openApiDocument } from './api/openapi';
import { roomRoutes } from './api/rooms-api';
import { createAuthenticator } from './auth';
import type { GatewayConfig } from './config';
import { serveDemo } from './demo';
import { createCoalescedSends } from './coalesced-sends';
import { handleFrame, type DispatchContext } from './dispatch';
import { createFanout } from './delivery/fanout';
import { respondAsync, sendJson, withTimeout } from './http';
import { createGatewayMetrics, metricsRoute } from './metrics';
import { createOutboxWaker } from './outbox-waker';
import { createSendBatcher } from './send-batcher';
import { fastPathOwner } from '../shared/outbox/fast-path';
import { CLOSE_SLOW_CONSUMER, drained, newSession, sendFrames, wakeDrainWaiters, type Session, type Socket } from './session';
import { loadMemberPage } from './sql/member-page';
import { loadRoomGap } from './sql/room-gap';
import { loadNativeUws, type UWS } from './uws';
import { OUTBOX_CHANNEL } from '../shared/outbox/notify-channel';

export interface GatewayDeps {
  sql: Sql;
  bus: Bus;
  logger: Logger;
  /** Where the gateway's metrics live and what GET /metrics serves; default: a registry of its own. */
  registry?: Registry;
  /** Gives up start-up when aborted (the wait for a taken port): startGateway then rejects. */
  signal?: AbortSignal;
}

export interface GatewayStats {
  readonly connections: number;
  rateLimited: number;
  slowConsumerCloses: number;
}

export interface Gateway {
  port: number;
  stats: GatewayStats;
  /** Stops accepting, lets in-flight ops finish (up to SHUTDOWN_GRACE_MS), closes every socket with 1001. */
  close(): Promise<void>;
}

export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_AUTH_TIMEOUT = 4001;
/** A join that could not be completed (PostgreSQL unreachable for too long): the client reconnects and resumes. */
export const CLOSE_TRY_AGAIN = 1013;
/** Places of a room read per query (backfill pages, gap reads). */
const PAGE_SIZE = 100;

/**
 * How long a taken port is tried again. uWS does not set SO_REUSEADDR, so a gateway
 * restarted on the port of one that just died (a crash, a container restarted in its pod)
 * cannot listen while the old connections are in TIME_WAIT — up to 60 s on Linux.
 */
const LISTEN_RETRY_MS = 90_000;
const LISTEN_RETRY_EVERY_MS = 1000;

async function listen(app: UWS.TemplatedApp, host: string, port: number, logger: Logger, signal?: AbortSignal): Promise<UWS.us_listen_socket> {
  const deadline = Date.now() + LISTEN_RETRY_MS;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const token = await new Promise<UWS.us_listen_socket | false>((resolve) => app.listen(host, port, resolve));
    if (token) return token;
    if (port === 0 || Date.now() >= deadline) throw new Error(`cannot listen on ${host}:${port}`);
    if (attempt === 1) logger.warn({ host, port }, 'port is taken; trying again (after a restart, the old connections hold it for up to a minute)');
    await sleep(LISTEN_RETRY_EVERY_MS, undefined, { signal });
  }
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const { sql, logger } = deps;
  const bus = createRoomBus(deps.bus, config.PUBSUB_MODE);
  const uws = loadNativeUws();
  const authenticate = await createAuthenticator(config.JWT_PUBLIC_KEY);
  const app = uws.App();
  const sockets = new Set<Socket>();
  const stats: GatewayStats = {
    get connections() {
      return sockets.size;
    },
    rateLimited: 0,
    slowConsumerCloses: 0,
  };
  let draining = false;
  const registry = deps.registry ?? createRegistry();
  /** What GET /ready checks besides draining. */
  const readinessChecks: ReadinessChecks = { postgres: () => sql`SELECT 1`, bus: () => bus.ping() };
  /** What is not ready, by name (empty when ready). */
  const notReady = (): Promise<Record<string, string>> =>
    draining ? Promise.resolve({ draining: 'the gateway is shutting down' }) : failedChecks(readinessChecks, 2000);
  const metrics = createGatewayMetrics(registry, {
    connections: () => sockets.size,
    rooms: () => fanout.roomsWithMembers(),
    ready: () => notReady().then((failed) => Object.keys(failed).length === 0),
  });

  const sendNow = (ws: Socket, frames: readonly string[]) =>
    sendFrames(ws, frames, () => {
      stats.slowConsumerCloses++;
      metrics.slowConsumerCloses.inc();
    });
  const sendReplies = createCoalescedSends(sendNow);
  const send = (ws: Socket, frames: readonly string[]) => {
    sendReplies.flush(ws);
    return sendNow(ws, frames);
  };
  // Paced sends (backfill pages) wait until a socket has at most this much buffered.
  const lowWater = Math.floor(config.WS_SEND_HIGH_WATER / 2);
  const fanout = createFanout(
    bus,
    {
      publish: (topic, frame) => app.publish(topic, frame, false, false),
      publishExcept: (from, topic, frame) => {
        if (!from.getUserData().closed) from.publish(topic, frame, false, false);
      },
      send,
      drained: (ws) => drained(ws, lowWater),
      subscribe: (ws, topic) => {
        if (!ws.getUserData().closed) ws.subscribe(topic);
      },
      unsubscribe: (ws, topic) => {
        if (!ws.getUserData().closed) ws.unsubscribe(topic);
      },
      forget: (ws, roomId) => ws.getUserData().rooms.delete(roomId),
      readGap: (roomId, afterSeq, upToSeq, memberships) => loadRoomGap(sql, roomId, afterSeq, upToSeq, memberships, PAGE_SIZE),
      readPage: (roomId, membership, afterSeq, upToSeq, eventsAfter) =>
        loadMemberPage(sql, roomId, membership.userId, membership.membershipId, afterSeq, upToSeq, PAGE_SIZE, eventsAfter),
      abort: (ws, reason) => {
        if (!ws.getUserData().closed) ws.end(CLOSE_TRY_AGAIN, reason);
      },
      delivered: (route) => {
        if (route.publishedAtMs !== null) metrics.delivered(route.publishedAtMs);
      },
      count: (what) => metrics.deliveryRule.inc({ event: what }),
      setTimer: (ms, fn) => {
        const timer = setTimeout(fn, ms);
        return { cancel: () => clearTimeout(timer) };
      },
      sleep,
      now: () => Date.now(),
      logger,
    },
    {
      holdMs: config.DELIVERY_HOLD_MS,
      gapTimeoutMs: config.DELIVERY_GAP_TIMEOUT_MS,
      pageSize: PAGE_SIZE,
      maxHeldBytes: Math.floor(config.WS_SEND_HIGH_WATER / 4),
    },
    logger,
  );
  await fanout.start();

  const outboxWaker = createOutboxWaker(config.OUTBOX_NOTIFY_WINDOW_MS, () => {
    sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`.catch((err: Error) => logger.warn({ err }, 'outbox NOTIFY failed; workers will poll'));
  });

  const sends = createSendBatcher({
    sql,
    bus,
    logger,
    waker: outboxWaker,
    fastPathOwner: config.OUTBOX_FAST_PATH ? fastPathOwner(config.GATEWAY_ID) : null,
    fastLockSeconds: config.OUTBOX_FAST_PATH_LOCK_SECONDS,
    maxBatch: config.SEND_BATCH_MAX,
    windowMs: config.SEND_BATCH_WINDOW_MS,
    // Leave connections of the pool to joins and acks.
    concurrency: Math.max(1, Math.floor(config.DATABASE_POOL_MAX / 2)),
    deliverOwn: (frame, eventSeq, route) => fanout.deliverOwn(frame, eventSeq, route),
    onBatch: (size) => metrics.sendBatchSize.observe(size),
    onFastPath: (published, failed) => {
      if (published) metrics.fastPath.inc({ result: 'published' }, published);
      if (failed) metrics.fastPath.inc({ result: 'handed_over' }, failed);
    },
  });

  const ctx: DispatchContext = {
    sql,
    fanout,
    sends,
    authenticate,
    logger,
    backfillLimit: config.BACKFILL_LIMIT,
    pageSize: PAGE_SIZE,
    rlCapacity: config.RL_BUCKET_CAPACITY,
    rlRefillMs: config.RL_REFILL_MS,
    send,
    sendLater: sendReplies.later,
    draining: () => draining,
    onRateLimited: () => {
      stats.rateLimited++;
      metrics.rateLimited.inc();
    },
    onOpDone: metrics.opDone,
  };

  app.ws<Session>('/*', {
    maxPayloadLength: config.MAX_BODY_BYTES,
    idleTimeout: config.WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    maxBackpressure: config.WS_SEND_HIGH_WATER,
    // A socket that cannot take a published event is closed rather than silently skipped.
    closeOnBackpressureLimit: 1,
    compression: uws.DISABLED,
    upgrade: (res, req, context) => {
      if (draining) {
        res.writeStatus('503 Service Unavailable').end('shutting down');
        return;
      }
      res.upgrade(
        newSession(config.RL_BUCKET_CAPACITY),
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      sockets.add(ws);
      const session = ws.getUserData();
      session.authTimer = setTimeout(() => {
        if (!session.closed && !session.userId) ws.end(CLOSE_AUTH_TIMEOUT, 'authentication timeout');
      }, config.AUTH_TIMEOUT_MS);
    },
    drain: (ws) => wakeDrainWaiters(ws, lowWater),
    message: (ws, data, isBinary) => {
      try {
        handleFrame(ctx, ws, data, isBinary);
      } catch (err) {
        logger.error({ err }, 'frame handler failed');
      }
    },
    close: (ws, code) => {
      const session = ws.getUserData();
      session.closed = true;
      if (session.authTimer) clearTimeout(session.authTimer);
      if (session.expiryTimer) clearTimeout(session.expiryTimer);
      for (const receipt of session.receipts?.values() ?? []) if (receipt.timer) clearTimeout(receipt.timer);
      wakeDrainWaiters(ws, lowWater);
      sockets.delete(ws);
      metrics.closed(code);
      if (code === CLOSE_SLOW_CONSUMER) logger.info({ userId: session.userId }, 'closed a slow consumer');
      // Includes rooms whose join is still on its way (backfill, catching up): they hold the socket too.
      for (const roomId of session.rooms.keys()) fanout.leave(ws, roomId);
      session.rooms.clear();
    },
  });

  app.get('/health', (res) => sendJson(res, 200, { ok: true }));
  app.get('/ready', (res) => respondAsync(res, async () => readiness(await notReady())));
  app.get('/metrics', metricsRoute(registry));
  app.get('/v1/openapi.json', (res) => sendJson(res, 200, openApiDocument));
  app.any(
    '/v1/*',
    createApi({
      routes: [
        ...roomRoutes(sql, (roomId, event) => void fanout.publishCommitted(roomId, roomEventFrame(event.type, roomId, event.id, event.payload))),
        ...historyRoutes(sql),
        ...messageRoutes(sends, logger),
      ],
      serverKeys: config.SERVER_API_KEYS,
      authenticateUser: authenticate,
      maxBodyBytes: config.MAX_BODY_BYTES,
      rlCapacity: config.API_RL_CAPACITY,
      rlRefillMs: config.API_RL_REFILL_MS,
      logger,
      draining: () => draining,
    }),
  );
  if (config.DEMO_UI) await serveDemo(app);
  app.any('/*', (res) => sendJson(res, 404, { error: 'not found' }));

  const listenSocket = await listen(app, config.HOST, config.PORT, logger, deps.signal);
  const port = uws.us_socket_local_port(listenSocket as unknown as UWS.us_socket);
  logger.info({ port, pubsubMode: config.PUBSUB_MODE }, 'gateway listening');

  return {
    port,
    stats,
    async close() {
      if (draining) return;
      draining = true;
      uws.us_listen_socket_close(listenSocket);
      const inFlight = [...sockets].map((ws) => {
        const session = ws.getUserData();
        return session.queue.then(() => session.replies);
      });
      await withTimeout(Promise.allSettled(inFlight), config.SHUTDOWN_GRACE_MS, 'in-flight ops').catch((err: Error) => logger.warn({ err }, err.message));
      for (const ws of [...sockets]) ws.end(CLOSE_GOING_AWAY, 'server shutting down');
      // Stored messages are published (or handed to the workers) before the bus closes.
      await withTimeout(sends.drain(), config.SHUTDOWN_GRACE_MS, 'fast-path publishes').catch((err: Error) => logger.warn({ err }, err.message));
      outboxWaker.flush();
    },
  };
}
