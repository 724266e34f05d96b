// One chat worker: every outbox row that is not `document.*` becomes a room event on the bus.
import type { Bus } from '../../shared/bus/bus';
import { createRoomBus, type PubsubMode } from '../../shared/bus/room-bus';
import { CHAT_EXCLUDED_PREFIX, createChatPublisher } from './chat-publisher';
import { startMessageKeyRetention } from '../outbox/maintenance/retention';
import { startOutboxWorker, type OutboxWorkerDeps, type OutboxWorkerSettings } from '../outbox/worker';

export interface ChatWorkerSettings extends OutboxWorkerSettings {
  MAX_ATTEMPTS: number;
  PUBSUB_MODE: PubsubMode;
  MESSAGE_KEY_RETENTION: number;
}

export interface ChatWorkerDeps extends OutboxWorkerDeps {
  bus: Bus;
}

export async function startChatWorker(settings: ChatWorkerSettings, deps: ChatWorkerDeps): Promise<{ stop(): Promise<void> }> {
  // After a failed publish, claim again only once the bus answers a ping: a Redis outage
  // must not use up the rows' attempts and dead-letter them.
  let busSuspect = false;
  const publish = createChatPublisher(createRoomBus(deps.bus, settings.PUBSUB_MODE));
  const worker = await startOutboxWorker(
    settings,
    {
      filter: { excludeTypePrefix: CHAT_EXCLUDED_PREFIX },
      maxAttempts: settings.MAX_ATTEMPTS,
      process: async (rows) => {
        const outcomes = await publish(rows);
        if (outcomes.some((o) => o && !o.dead)) busSuspect = true;
        return outcomes;
      },
      ready: async () => {
        if (!busSuspect) return true;
        busSuspect = !(await deps.bus.ping().then(
          () => true,
          () => false,
        ));
        return !busSuspect;
      },
    },
    deps,
  );
  const stopKeyRetention = startMessageKeyRetention(
    deps.sql,
    {
      retentionMs: settings.MESSAGE_KEY_RETENTION,
      intervalMs: settings.OUTBOX_RETENTION_INTERVAL_MS,
      batchSize: settings.OUTBOX_RETENTION_BATCH,
      holder: settings.WORKER_ID,
    },
    deps.logger,
  );
  return {
    async stop() {
      await stopKeyRetention();
      await worker.stop();
    },
  };
}
