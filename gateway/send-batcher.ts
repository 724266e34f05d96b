// Sends, from every connection of this gateway, stored by group commit and published by the
// fast path. Sends that arrive while earlier batches are being written wait and go together
// in the next batch (one transaction for all of them: gateway/sql/insert-messages.ts); while
// sends come often, a batch that is not full also waits `windowMs` after its first send for
// others. Each send is answered once its batch has committed. Then the gateway publishes the
// messages it may publish itself (the fast path) and deletes their outbox rows; what it could
// not publish goes to the outbox workers, and the reaper hands them whatever a crashed gateway
// held. Receivers order by seq, so a copy published twice, or one that comes early, is harmless.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RoomBus } from '../shared/bus/room-bus';
import type { Sql } from '../shared/db/client';
import type { Logger } from '../shared/logger';
import { messageRoute, serializeMessageEvent, type EventRoute } from '../shared/protocol/events';
import type { OutboxWaker } from './outbox-waker';
import { insertMessages, type NewMessage, type StoredMessage } from './sql/insert-messages';
import { releaseFastRows } from './sql/release-fast-rows';
import { retireFastRows } from './sql/retire-fast-rows';

export interface SendBatcherOptions {
  sql: Sql;
  bus: RoomBus;
  logger: Logger;
  waker: OutboxWaker;
  /** `locked_by` of the rows this gateway publishes itself; null: no fast path (the workers publish everything). */
  fastPathOwner: string | null;
  fastLockSeconds: number;
  /** Most sends in one transaction. */
  maxBatch: number;
  /** Most batches being written at once (more than one only while full batches are waiting). */
  concurrency: number;
  /**
   * A send that finds no batch being written waits up to this many ms for others to join its
   * batch, while sends come in at least one per two windows on average (0: never waits).
   */
  windowMs?: number;
  /** The fast path published these many messages, or failed to (for metrics). */
  onFastPath?(published: number, failed: number): void;
  /** A batch of this many sends is being written (for metrics). */
  onBatch?(size: number): void;
  /**
   * A message this gateway stored and publishes itself, right after its commit, for its own
   * sockets (fanout.deliverOwn, which takes it only when that cannot reorder the room).
   */
  deliverOwn?(frame: string, eventSeq: number, route: EventRoute): void;
}

export interface SendBatcher {
  /**
   * Stores one message; resolves once committed (null: not an active member), rejects if the
   * database failed. Messages of one `source` (a connection) are stored in the order given:
   * they never go into two batches being written at once.
   */
  send(message: NewMessage, source: object): Promise<StoredMessage | null>;
  /** Resolves when every send taken so far is stored and published, and its rows retired (shutdown). */
  drain(): Promise<void>;
}

/**
 * Rows published by the fast path are deleted together, by a statement of their own this
 * long after the first of them was published: one statement for every row published
 * meanwhile, instead of a delete in every batch. Until then they are held by this gateway
 * (`fastLockSeconds`), so no worker takes them.
 */
const RETIRE_DELAY_MS = 100;

interface Waiting {
  /** performance.now() when it was queued. */
  queuedAt: number;
  message: NewMessage;
  source: object;
  resolve(result: StoredMessage | null): void;
  reject(err: unknown): void;
}

export function createSendBatcher(options: SendBatcherOptions): SendBatcher {
  const { sql, bus, logger, fastPathOwner } = options;
  let queue: Waiting[] = [];
  const running = new Set<Promise<void>>();
  /** Fast-path publishes of committed batches, not yet answered by Redis. */
  const publishing = new Set<Promise<void>>();
  /** Sources with messages in a batch being written: their next ones wait for it. */
  const writing = new Map<object, number>();
  let toRetire: number[] = [];
  let retireTimer: NodeJS.Timeout | null = null;
  let retiring: Promise<void> = Promise.resolve();

  const retire = () => {
    if (retireTimer) clearTimeout(retireTimer);
    retireTimer = null;
    const ids = toRetire;
    toRetire = [];
    if (!fastPathOwner || ids.length === 0) return;
    retiring = retiring.then(() =>
      retireFastRows(sql, fastPathOwner, ids).then(
        () => {},
        // Left in_progress: the reaper hands them to the workers, whose copies are dropped by seq.
        (err: unknown) => logger.warn({ err, rows: ids.length }, 'could not delete outbox rows published by the fast path'),
      ),
    );
  };

  const retireLater = (ids: number[]) => {
    toRetire.push(...ids);
    retireTimer ??= setTimeout(retire, RETIRE_DELAY_MS);
  };

  const publishFast = async (stored: StoredMessage[], roomIds: string[]) => {
    const timestamp = new Date().toISOString();
    const events = stored.map((s, i) => ({ roomId: roomIds[i]!, frame: serializeMessageEvent(roomIds[i]!, s.message, 'live', timestamp) }));
    if (options.deliverOwn)
      events.forEach(({ roomId, frame }, i) => options.deliverOwn!(frame, stored[i]!.eventSeq, messageRoute(roomId, stored[i]!.message, timestamp)));
    const results = await bus.publish(events);
    const published: number[] = [];
    const failed: number[] = [];
    results.forEach((err, i) => (err ? failed : published).push(stored[i]!.fastRowId!));
    if (published.length) retireLater(published);
    if (failed.length) {
      logger.warn({ rows: failed.length, err: results.find(Boolean) }, 'fast-path publish failed; the outbox workers take over');
      await releaseFastRows(sql, fastPathOwner!, failed).catch((err: unknown) =>
        logger.warn({ err, rows: failed.length }, 'could not hand unpublished rows to the workers; the reaper will'),
      );
    }
    options.onFastPath?.(published.length, failed.length);
  };

  const write = async (batch: Waiting[]) => {
    options.onBatch?.(batch.length);
    const notify = options.waker.notifyInline();
    let results: Array<StoredMessage | null>;
    try {
      results = await insertMessages(
        sql,
        batch.map((w) => w.message),
        { fastPathOwner, fastLockSeconds: options.fastLockSeconds, notify },
      );
    } catch (err) {
      for (const waiting of batch) waiting.reject(err);
      return;
    }
    batch.forEach((waiting, i) => waiting.resolve(results[i]!));
    const fast: StoredMessage[] = [];
    const fastRooms: string[] = [];
    let leftToWorkers = false;
    results.forEach((stored, i) => {
      if (!stored || stored.earlier) return; // refused, or stored by an earlier send with its key
      if (stored.fastRowId === null) leftToWorkers = true;
      else {
        fast.push(stored);
        fastRooms.push(batch[i]!.message.roomId);
      }
    });
    if (leftToWorkers && !notify) options.waker.committedWithoutNotify();
    // Not awaited: the next batch need not wait for Redis. Publishes still go out in commit
    // order, one pipeline after another on the bus's connection.
    if (fast.length) track(publishFast(fast, fastRooms));
  };

  const track = (publish: Promise<void>) => {
    const tracked = publish.catch((err: unknown) => logger.error({ err }, 'fast-path publish failed unexpectedly')).finally(() => publishing.delete(tracked));
    publishing.add(tracked);
  };

  /** The next batch: queued messages in order, skipping (and keeping queued) those of sources being written. */
  const takeBatch = (): Waiting[] => {
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    for (const waiting of queue) {
      if (batch.length < options.maxBatch && !writing.has(waiting.source)) batch.push(waiting);
      else rest.push(waiting);
    }
    queue = rest;
    for (const { source } of batch) writing.set(source, (writing.get(source) ?? 0) + 1);
    return batch;
  };

  const windowMs = options.windowMs ?? 0;
  /** Set while the sends queued wait for others to join their batch (`windowMs`). */
  let windowTimer: NodeJS.Timeout | null = null;
  /** A moving average of the ms between two sends, and when the last one came. */
  let meanGapMs = Infinity;
  let lastSendAt = -Infinity;

  /**
   * True while the queued sends wait for others to join their batch (the pump is called
   * again when the window is over). Waiting pays only if others are likely to come within
   * the window: sends arrive at least one per two windows on average; slower, most would
   * wait for nothing.
   */
  const holdForWindow = (): boolean => {
    if (running.size > 0 || queue.length >= options.maxBatch || meanGapMs >= 2 * windowMs) return false;
    const wait = queue[0]!.queuedAt + windowMs - performance.now();
    if (wait <= 0) return false;
    windowTimer ??= setTimeout(() => {
      windowTimer = null;
      pump(true);
    }, wait);
    return true;
  };

  const pump = (windowOver = false) => {
    while (running.size < options.concurrency && queue.length > 0) {
      if (!windowOver && holdForWindow()) return;
      if (windowTimer) clearTimeout(windowTimer);
      windowTimer = null;
      // A second batch only for a full one: small batches wait for the one being written and
      // grow meanwhile — fewer statements for the same sends (PostgreSQL CPU per message at
      // 1,000 sends/s: 530 -> 400 µs), the same throughput under load.
      if (running.size > 0 && queue.length < options.maxBatch) return;
      const batch = takeBatch();
      if (batch.length === 0) return; // everything queued waits for a batch being written
      const run: Promise<void> = write(batch)
        .catch((err: unknown) => logger.error({ err }, 'send batch failed unexpectedly'))
        .finally(() => {
          for (const { source } of batch) {
            const left = writing.get(source)! - 1;
            if (left === 0) writing.delete(source);
            else writing.set(source, left);
          }
          running.delete(run);
          pump();
        });
      running.add(run);
    }
  };

  return {
    send(message, source) {
      return new Promise((resolve, reject) => {
        const now = performance.now();
        meanGapMs = meanGapMs === Infinity ? now - lastSendAt : 0.9 * meanGapMs + 0.1 * (now - lastSendAt);
        lastSendAt = now;
        queue.push({ queuedAt: now, message, source, resolve, reject });
        pump();
      });
    },
    async drain() {
      while (running.size > 0 || queue.length > 0 || publishing.size > 0) {
        pump();
        await Promise.race([Promise.all([...running, ...publishing]), sleep(10)]);
      }
      retire();
      await retiring;
    },
  };
}
