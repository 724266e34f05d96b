import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import { OUTBOX_CHANNEL } from '../../shared/outbox/notify-channel';

export { OUTBOX_CHANNEL };

/**
 * Calls `wake` on every outbox NOTIFY: from the trigger in sql/0001, or from the
 * gateway's sends (gateway/outbox-waker.ts). postgres.js keeps the LISTEN connection and re-listens after a reconnect.
 */
export async function listenForOutbox(sql: Sql, wake: () => void, logger: Logger): Promise<() => Promise<void>> {
  const { unlisten } = await sql.listen(OUTBOX_CHANNEL, wake, () => {
    logger.debug('listening for outbox notifications');
    wake(); // (re)connected: rows may have arrived while we were not listening
  });
  return unlisten;
}
